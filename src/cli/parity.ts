/** `alae parity <dir...>`: one line per case, then `N passed, M failed`. */
import { parse, backendOption, setupBackend } from './args.js';
import { formatCase, runParity } from '../parity/parity.js';

export async function parityCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...backendOption });
  if (values.help || positionals.length === 0) {
    process.stdout.write('usage: alae parity <dir> [<dir> ...] [--backend B]\n  dir: a folder laid out like ../shared/alae-reference/* (checkpoint.zip.pth, checkpoint.legacy.pth, expected.safetensors)\n');
    return values.help ? 0 : 2;
  }
  const backend = await setupBackend(values.backend, true);
  process.stdout.write(`backend ${backend}\n`);
  let passed = 0;
  let failed = 0;
  for (const dir of positionals) {
    if (positionals.length > 1) process.stdout.write(`# ${dir}\n`);
    const results = await runParity(dir, { onCase: (r) => process.stdout.write(formatCase(r) + (r.status === 'ok' ? '' : `  (${r.detail})`) + '\n') });
    for (const r of results) r.status === 'ok' ? passed++ : failed++;
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}
