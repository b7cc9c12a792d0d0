// a build-time-only tool: strips comments and blank lines
module.exports = function minify(source) {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .split("\n")
    .map((line) => line.replace(/^\s*\/\/.*$/, "").trimEnd())
    .filter((line) => line.length > 0)
    .join("\n") + "\n";
};
