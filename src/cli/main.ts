#!/usr/bin/env node
/**
 * The `alae` command: one sub-command per job, each in its own file. Exit
 * status 0 on success, 1 when any part of the job failed, 2 on bad usage.
 */
import { AlaeError } from '../errors.js';

type Command = (argv: string[]) => Promise<number>;

/** Load `<file>`'s exported `<name>` (paths kept as strings so each command loads only what it needs). */
function lazy(file: string, name: string): () => Promise<Command> {
  return async () => ((await import(file)) as Record<string, Command>)[name];
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: { summary: 'run the whole product on the bundled model and held-out digits (writes ./alae-demo/)', load: lazy('./demo.js', 'demoCommand') },
  info: { summary: 'print a preset or model: config and parameter counts per network', load: lazy('./info.js', 'infoCommand') },
  import: { summary: 'import a reference ALAE checkpoint (.pth) into an alae model file', load: lazy('./import.js', 'importCommand') },
  encode: { summary: 'encode images into w (one forward pass per face)', load: lazy('./encode.js', 'encodeCommand') },
  reconstruct: { summary: 'reconstruct images: a PNG per face and a side-by-side sheet', load: lazy('./reconstruct.js', 'reconstructCommand') },
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

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(12)} ${v.summary}`);
  return `usage: alae <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'alae <command> --help' for a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage() + '\n');
    return cmd ? 0 : 2;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    process.stderr.write(`alae: unknown command '${cmd}'\n\n${usage()}\n`);
    return 2;
  }
  let run: Command | undefined;
  try {
    run = await entry.load();
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      process.stderr.write(`alae: '${cmd}' is not available in this build\n`);
      return 2;
    }
    throw e;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof AlaeError) process.stderr.write(`alae: ${e.message}\n`);
    else process.stderr.write(`alae: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
