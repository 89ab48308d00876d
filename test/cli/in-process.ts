/** Run `alae <args>` in this process (run.ts's runCli, as the binary does), in a folder, capturing stdout and stderr. */
import { runCli } from '../../src/cli/run.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function alaeIn(cwd: string, ...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const w = { out: process.stdout.write, err: process.stderr.write };
  const here = process.cwd();
  process.stdout.write = ((s: string | Uint8Array) => out.push(String(s)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => err.push(String(s)) > 0) as typeof process.stderr.write;
  process.chdir(cwd);
  try {
    const code = await runCli(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.chdir(here);
    process.stdout.write = w.out;
    process.stderr.write = w.err;
  }
}
