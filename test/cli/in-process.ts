/** Run `alae <args>` in this process (run.ts's runCli, as the binary does), in a folder, capturing stdout and stderr. */
import path from 'node:path';
import { runCli } from '../../src/cli/run.js';
import { useTempDir } from '../temp-dir.js';

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

/** A test file's folder (made before its tests, removed after them): `at` names a path in it, `alae` runs a command there. */
export function cliFolder(prefix: string): { readonly path: string; at(...p: string[]): string; alae(...args: string[]): Promise<CliResult> } {
  const dir = useTempDir(prefix);
  return {
    get path(): string {
      return dir.path;
    },
    at: (...p) => path.join(dir.path, ...p),
    alae: (...args) => alaeIn(dir.path, ...args),
  };
}
