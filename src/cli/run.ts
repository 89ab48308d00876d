/**
 * The `alae` command's dispatcher and its one way of ending: a sub-command
 * returns its exit status, and whatever it throws becomes one line on
 * stderr. Exit status: 0 done, 1 something failed (an input, an output, a
 * model), 2 bad usage, 130 interrupted (Ctrl-C), 143 terminated. The stack
 * of an unexpected error is printed only with ALAE_DEBUG=1.
 */
import { AlaeError } from '../errors.js';
import { OutputExists } from '../io/outputs.js';
import { RunFolderTaken } from '../train/run-folder.js';
import { UsageError, suggestOption } from './args.js';

type Command = (argv: string[]) => Promise<number>;

/** Load `<file>`'s exported `<name>` (paths kept as strings so each command loads only what it needs). */
function lazy(file: string, name: string): () => Promise<Command> {
  return async () => ((await import(file)) as Record<string, Command>)[name];
}

export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: { summary: 'run the whole product on the bundled model and held-out digits (writes ./alae-demo/)', load: lazy('./demo.js', 'demoCommand') },
  info: { summary: 'print a preset or model: config and parameter counts per network', load: lazy('./info.js', 'infoCommand') },
  import: { summary: 'import a reference ALAE checkpoint (.pth) into an alae model file', load: lazy('./import.js', 'importCommand') },
  init: { summary: 'write a randomly initialised model of a preset (for trying presets, timing)', load: lazy('./init.js', 'initCommand') },
  encode: { summary: 'encode images into w (one forward pass per face)', load: lazy('./encode.js', 'encodeCommand') },
  reconstruct: { summary: 'reconstruct images: an image per face and a side-by-side sheet', load: lazy('./reconstruct.js', 'reconstructCommand') },
  mix: { summary: 'swap coarse, middle or fine styles between faces', load: lazy('./mix.js', 'mixCommand') },
  generate: { summary: 'generate images from seeds', load: lazy('./generate.js', 'generateCommand') },
  interpolate: { summary: 'interpolate between two images in W', load: lazy('./interpolate.js', 'interpolateCommand') },
  edit: { summary: 'move an image along a direction in w space (.npy)', load: lazy('./edit.js', 'editCommand') },
  tui: { summary: 'explore a model in the terminal: reconstructions and style mixing', load: lazy('./tui.js', 'tuiCommand') },
  train: { summary: 'train a model (three-step ALAE, progressive growing, resumable)', load: lazy('./train.js', 'trainCommand') },
  eval: { summary: 'measure reconstruction and latent quality on held-out data', load: lazy('./eval.js', 'evalCommand') },
  parity: { summary: 'check this implementation against reference vectors (folders like ../shared/alae-reference/*)', load: lazy('./parity.js', 'parityCommand') },
  bench: { summary: 'benchmark training and inference speed', load: lazy('./bench.js', 'benchCommand') },
};

export function overviewText(): string {
  const lines = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(12)} ${v.summary}`);
  return (
    `usage: alae <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n` +
    `Run 'alae <command> --help' for a command's options. No command overwrites a file that exists\n` +
    `unless given --force; exit status 0 done, 1 failed, 2 bad usage, 130 interrupted.`
  );
}

/** The first line of a message (tfjs and sharp messages can run over many). */
const firstLine = (s: string): string => s.split('\n')[0];

/** What a system error says, in a few words, by its code. */
const ERRNO: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EISDIR: 'is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  EEXIST: 'already exists',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EMFILE: 'too many open files',
};

/**
 * One line for an error that reached the top: an AlaeError's message (it
 * names its file), a system error as `path: cause (CODE)`, anything else
 * its first line.
 */
export function errorLine(e: unknown): string {
  if (e instanceof RunFolderTaken) return `${e.message}; ${e.checkpoint ? 'continue it with --resume, or ' : ''}give another --out`;
  if (e instanceof OutputExists) return `${e.message} (--force overwrites)`;
  if (e instanceof AlaeError || e instanceof UsageError) return firstLine(e.message);
  const sys = e as NodeJS.ErrnoException;
  if (sys && typeof sys.code === 'string' && typeof sys.syscall === 'string') {
    const cause = ERRNO[sys.code] ?? firstLine(sys.message);
    return `${sys.path ? `${sys.path}: ` : ''}${cause} (${sys.code})`;
  }
  return e instanceof Error ? firstLine(e.message) || e.name : String(e);
}

/** Exit status for an error: 2 for bad usage, else 1. */
export function exitCodeOf(e: unknown): number {
  return e instanceof UsageError ? 2 : 1;
}

/** Print an error that reached the top (one line; the stack too with ALAE_DEBUG=1) and give its exit status. */
export function reportError(prefix: string, e: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  const code = exitCodeOf(e);
  const help = code === 2 && prefix !== 'alae' ? ` (${prefix} --help lists the options)` : '';
  stderr.write(`${prefix}: ${errorLine(e)}${help}\n`);
  if (process.env.ALAE_DEBUG === '1' && e instanceof Error && e.stack) stderr.write(`${e.stack}\n`);
  return code;
}

/** Run `alae <argv...>`: the exit status (errors are printed, never thrown). */
export async function runCli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    (cmd ? process.stdout : process.stderr).write(overviewText() + '\n');
    return cmd ? 0 : 2;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    const hint = suggestOption(cmd, Object.keys(COMMANDS));
    return reportError('alae', new UsageError(`unknown command '${cmd}'${hint ? ` (did you mean '${hint}'?)` : ''}; 'alae --help' lists them`));
  }
  try {
    const run = await entry.load().catch((e: unknown): never => {
      if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') throw new UsageError(`'${cmd}' is not available in this build`);
      throw e;
    });
    return await run(rest);
  } catch (e) {
    return reportError(`alae ${cmd}`, e);
  }
}
