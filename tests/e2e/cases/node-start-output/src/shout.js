/* upper-cases a line when SHOUT=1 */
exports.shout = (line) => (process.env.SHOUT === "1" ? line.toUpperCase() : line);
