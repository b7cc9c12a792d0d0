// build step: minify src/ into dist/ with the dev-only minify tool
const fs = require("fs");
const path = require("path");
const minify = require("minify");

fs.mkdirSync("dist", { recursive: true });
for (const name of fs.readdirSync("src")) {
  const out = minify(fs.readFileSync(path.join("src", name), "utf8"));
  fs.writeFileSync(path.join("dist", name), out);
  console.log(`built dist/${name} (${out.length} bytes)`);
}
