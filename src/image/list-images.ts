/**
 * The one rule for which files of a folder are images, used by every
 * command (the jobs' inputs and `alae train --data <folder>`):
 *
 * - files whose extension is one of IMAGE_EXTENSIONS (any case);
 * - names starting with "." are left out (hidden files, the training
 *   cache `.alae-cache`, the temporary files of atomic writes);
 * - only the folder itself by default; `recursive` takes its subfolders
 *   too (symbolic links followed);
 * - sorted by path relative to the folder, in plain code-unit order (the
 *   same on every platform and locale).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { AlaeError } from '../errors.js';

/** Extensions taken as images when listing a folder. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic'];

export interface ListOptions {
  /** Take the images in subfolders too (default false). */
  recursive?: boolean;
}

/** Is this file name an image by the rule above? */
export function isImageFile(name: string): boolean {
  return !path.basename(name).startsWith('.') && IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

/** The images of a folder: paths relative to it, sorted (see the module doc). */
export async function listImageFolder(folder: string, opts: ListOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const dir = path.join(folder, rel);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      throw new AlaeError(`cannot list the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, dir);
    }
    for (const d of entries) {
      if (d.name.startsWith('.')) continue;
      let isDir = d.isDirectory();
      let isFile = d.isFile();
      if (d.isSymbolicLink()) {
        const st = await stat(path.join(dir, d.name)).catch(() => null);
        isDir = Boolean(st?.isDirectory());
        isFile = Boolean(st?.isFile());
      }
      if (isDir && opts.recursive) await walk(path.join(rel, d.name));
      else if (isFile && isImageFile(d.name)) out.push(path.join(rel, d.name));
    }
  };
  await walk('');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Expand arguments into image files: a folder gives its images (the rule
 * above); anything else is kept as given, so a missing or unsupported file
 * is reported by the job rather than skipped.
 */
export async function listImages(args: readonly string[], opts: ListOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    const isDir = await stat(a).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (isDir) out.push(...(await listImageFolder(a, opts)).map((f) => path.join(a, f)));
    else out.push(a);
  }
  return out;
}
