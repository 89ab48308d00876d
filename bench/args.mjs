/** The bench scripts' command line: `option('--name', default)` reads the value after a flag, `flag('--name')` whether it is there. */
const args = process.argv.slice(2);

export const flag = (name) => args.includes(name);

export const option = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
