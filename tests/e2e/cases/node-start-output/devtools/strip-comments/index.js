// removes /* */ and whole-line // comments (a stand-in for a real build tool)
module.exports = (code) =>
  code.replace(/\/\*[\s\S]*?\*\//g, "").split("\n").filter((l) => !/^\s*\/\//.test(l)).join("\n");
