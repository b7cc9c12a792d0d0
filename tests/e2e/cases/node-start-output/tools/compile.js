// build step: compile every file of <src> into <out> with the dev-only strip-comments tool
const fs = require("fs");
const path = require("path");
const strip = require("strip-comments");

const [src, out] = process.argv.slice(2);
fs.mkdirSync(out, { recursive: true });
for (const name of fs.readdirSync(src)) {
  fs.writeFileSync(path.join(out, name), strip(fs.readFileSync(path.join(src, name), "utf8")));
  console.log(`compiled ${path.join(out, name)}`);
}
