/**
 * Reading a whole file for the format readers, with the one error line they
 * all give when the file itself cannot be read (missing, a folder, no
 * permission): the path and the system's code.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { AlaeError } from '../errors.js';

export function readError(path: string, e: unknown): AlaeError {
  const code = (e as NodeJS.ErrnoException)?.code;
  return new AlaeError(`cannot read file${code ? ` (${code})` : ''}: ${(e as Error)?.message ?? e}`, path);
}

export async function readWholeFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw readError(path, e);
  }
}

export function readWholeFileSync(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw readError(path, e);
  }
}
