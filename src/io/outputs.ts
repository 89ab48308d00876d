/**
 * Checks on the paths a job will write, made before any work, so that a
 * job never computes for minutes and then fails on its output, and never
 * replaces a file that exists unless told to (`overwrite`):
 *
 * - a file output must not be a folder, and may exist only with overwrite;
 * - a folder output must not be a file, and the names the job will write
 *   in it may exist only with overwrite (other files there are left alone);
 * - either way the folder that will hold it must be creatable and
 *   writable: the nearest existing ancestor is a folder we may write in
 *   (not a file: `a/b.png` where `a` is a file fails here).
 *
 * Nothing is created by a check. Writes themselves go through atomic.ts.
 */
import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { AlaeError } from '../errors.js';

/** An output that exists and was not to be overwritten. */
export class OutputExists extends AlaeError {
  /** Every clashing path (the message names the first few). */
  readonly paths: readonly string[];
  constructor(paths: readonly string[]) {
    const more = paths.length > 3 ? ` and ${paths.length - 3} more` : '';
    super(`${paths.slice(0, 3).join(', ')}${more} already exist${paths.length === 1 ? 's' : ''}`);
    this.paths = paths;
  }
}

export interface OutputCheckOptions {
  /** Replace outputs that exist (default false). */
  overwrite?: boolean;
}

async function statOrNull(p: string) {
  try {
    return await stat(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR') return 'notdir' as const;
    throw new AlaeError(`cannot look at it (${code ?? (e as Error).message})`, p);
  }
}

/** `dir` (which need not exist yet) can be created and written in: its nearest existing ancestor is a writable folder. */
export async function checkWritableFolder(dir: string, target = dir): Promise<void> {
  let p = path.resolve(dir);
  for (;;) {
    const st = await statOrNull(p);
    if (st === null || st === 'notdir') {
      const up = path.dirname(p);
      if (up === p) break;
      p = up;
      continue;
    }
    if (!st.isDirectory()) throw new AlaeError(`cannot be written: ${p} is a file, not a folder`, target);
    try {
      await access(p, constants.W_OK | constants.X_OK);
    } catch (e) {
      throw new AlaeError(`cannot be written: no permission to write in ${p} (${(e as NodeJS.ErrnoException).code ?? 'denied'})`, target);
    }
    return;
  }
}

/** A file output: not a folder; exists only with overwrite; its folder writable. */
export async function checkOutputFile(file: string, opts: OutputCheckOptions = {}): Promise<void> {
  const st = await statOrNull(file);
  if (st && st !== 'notdir') {
    if (st.isDirectory()) throw new AlaeError('is a folder; give a file name', file);
    if (!opts.overwrite) throw new OutputExists([file]);
  }
  await checkWritableFolder(path.dirname(path.resolve(file)), file);
  if (st && st !== 'notdir') {
    try {
      await access(file, constants.W_OK);
    } catch {
      throw new AlaeError('exists and cannot be replaced (no permission)', file);
    }
  }
}

/**
 * A folder output: not a file; writable; none of the files the job will
 * write there exists unless overwrite. `writes` lists those names, or
 * tells for a name already in the folder whether the job would write it
 * (when the names depend on results, e.g. `photo_<face>.png`).
 */
export async function checkOutputFolder(dir: string, writes: readonly string[] | ((name: string) => boolean), opts: OutputCheckOptions = {}): Promise<void> {
  const st = await statOrNull(dir);
  if (st && st !== 'notdir' && !st.isDirectory()) throw new AlaeError('is a file; this job writes a folder of files', dir);
  await checkWritableFolder(dir);
  if (!st || st === 'notdir' || opts.overwrite) return;
  let clash: string[];
  if (typeof writes === 'function') {
    clash = (await readdir(dir)).filter(writes).sort();
  } else {
    clash = [];
    for (const name of writes) if ((await statOrNull(path.join(dir, name))) !== null) clash.push(name);
  }
  if (clash.length) throw new OutputExists(clash.map((n) => path.join(dir, n)));
}
