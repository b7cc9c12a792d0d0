/* entry point: greets the names given, or the world */
const greet = require("greet");
const { shout } = require("./shout");

// names from the command line
const names = process.argv.length > 2 ? process.argv.slice(2) : ["world"];
for (const n of names) console.log(shout(greet(n)));
