/**
 * `alae demo` (the README's main command): no arguments, no network. Loads
 * the bundled MNIST model and held-out digits, writes the demo sheets to
 * ./alae-demo/ (src/demo/demo.ts), prints where they are, and in a terminal
 * opens the TUI on the held-out digits.
 */
import path from 'node:path';
import { parse, UsageError, usageErrors } from './args.js';
import { loadModel } from '../api/alae.js';
import { bundledModel } from '../api/bundled.js';
import { intOption, progressRenderer, withModel } from './support.js';
import { requestedBackend } from '../backend/backend.js';
import { checkDemoFolder, runDemo } from '../demo/demo.js';

const USAGE = `usage: alae demo [--out <dir>] [--model <model>] [--no-tui] [--seed N] [--scale N] [--backend B] [--force] [--quiet]
  Runs the whole product on the model bundled with alae (MNIST digits, trained by this project)
  and on held-out digits that training never read; writes to <dir> (default ./alae-demo):
    reconstruction.png        input | reconstruction, 20 held-out digits
    style-mixing.png          sources across the top, targets down the left; rows swap the
                              source's coarse (4x4-8x8), middle (16x16) or fine (32x32) styles
    generated.png             32 samples, no truncation
    generated-truncated.png   the same seeds, truncated toward the average w (the model's psi)
    interpolation.png         strips linear in W between two held-out digits
    digits/                   the held-out inputs
  Then, in a terminal, opens the TUI on the digits (--no-tui: do not).
  Files of these names that exist in <dir> (an earlier demo's) stop the command before any work,
  naming them; --force (-f) replaces them. Other files there are left alone.
  --model <file>   another 1-channel 32x32 model instead of the bundled one
  --seed <n>       noise seed of the decodes (default 0)
  --scale <n>      pixels per digit pixel in the sheets (default 4)
  --backend <name> auto (default, or ALAE_BACKEND), native, tensorflow-gpu, tensorflow, webgpu, wasm, cpu
exit status: 0 done, 1 failed, 2 bad usage, 130 interrupted.`;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    out: { type: 'string', short: 'o' },
    model: { type: 'string', short: 'm' },
    'no-tui': { type: 'boolean' },
    seed: { type: 'string' },
    scale: { type: 'string' },
    backend: { type: 'string' },
    force: { type: 'boolean', short: 'f' },
    quiet: { type: 'boolean', short: 'q' },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const backend = usageErrors(() => requestedBackend(values.backend));
  const seed = intOption('seed', values.seed, 0, 0);
  const scale = intOption('scale', values.scale, 4, 1);
  if (scale > 16) throw new UsageError(`--scale must be at most 16 (got ${scale})`);
  const outDir = path.resolve(values.out ?? 'alae-demo');
  const overwrite = Boolean(values.force);
  await checkDemoFolder(outDir, { overwrite });
  const model = values.model ?? bundledModel();

  const alae = await loadModel(model, { backend, align: 'none' });
  const result = await withModel(alae, async () => {
    if (!values.quiet) process.stderr.write(`alae demo: ${alae.config.name} model (${path.relative(process.cwd(), model) || model}), backend ${alae.backend}\n`);
    const progress = progressRenderer('demo', values.quiet);
    const r = await runDemo(alae, outDir, { seed, scale, overwrite, onProgress: (p) => progress({ stage: 'decode', done: p.done, total: p.total, source: p.stage }) });
    progress.end();
    return r;
  });

  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  const lines = [
    `wrote ${rel(outDir)}/ in ${result.seconds.toFixed(1)} s:`,
    `  ${rel(result.reconstruction).padEnd(40)} held-out digit | reconstruction (${result.heldOut.length} digits encoded)`,
    `  ${rel(result.styleMixing).padEnd(40)} style mixing: rows ${result.levels.map((l) => `${l.name} (slots ${l.from}-${l.to - 1})`).join(', ')}`,
    `  ${rel(result.generated).padEnd(40)} generated, no truncation`,
    `  ${rel(result.generatedTruncated).padEnd(40)} generated, truncation psi ${result.truncation.psi}`,
    `  ${rel(result.interpolation).padEnd(40)} interpolation in W`,
    `  ${(rel(path.dirname(result.digits[0])) + '/').padEnd(40)} the held-out inputs`,
  ];
  process.stdout.write(lines.join('\n') + '\n');

  if (values['no-tui'] || !process.stdin.isTTY || !process.stdout.isTTY) return 0;
  process.stdout.write('opening the TUI on the held-out digits (q quits, ? lists the keys)\n');
  const { tuiCommand } = await import('./tui.js');
  const args = ['--model', model, '--out', outDir, ...result.digits];
  if (values.backend) args.push('--backend', values.backend);
  return tuiCommand(args);
}
