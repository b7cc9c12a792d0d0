/* entry point: prints slugs for the titles given, or a demo set */
const slugify = require("slugify");

// titles to convert
const titles = process.argv.length > 2 ? process.argv.slice(2) : ["Hello World", "Dockerfiles: Smaller & Safer", "  Many   spaces "];
for (const t of titles) {
  console.log(slugify(t));
}
