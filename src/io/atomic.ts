/**
 * Atomic file writes: the data goes to a uniquely named temporary file in the
 * target's directory, is flushed to disk, and is then renamed over the target.
 * Readers therefore see either the old file or the complete new one, never a
 * half-written target. On any failure the temporary file is removed and the
 * error is rethrown unchanged.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Name for the temporary sibling of `target`: hidden, pid + random, `.tmp`. */
function tempPathFor(target: string): string {
  const rand = randomBytes(6).toString('hex');
  return join(dirname(target), `.${basename(target)}.${process.pid}.${rand}.tmp`);
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

/** Mode bits of an existing target, so replacing a file keeps its permissions. */
async function existingMode(target: string): Promise<number | undefined> {
  try {
    const st = await stat(target);
    return st.isFile() ? st.mode & 0o7777 : undefined;
  } catch {
    return undefined;
  }
}

function existingModeSync(target: string): number | undefined {
  try {
    const st = fs.statSync(target);
    return st.isFile() ? st.mode & 0o7777 : undefined;
  } catch {
    return undefined;
  }
}

/** fsync a directory so the rename itself is durable; silently skipped where unsupported. */
async function fsyncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Not supported on every platform / filesystem (e.g. Windows, some FUSE mounts).
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // See fsyncDir.
  } finally {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* ignore */
      }
    }
  }
}

/**
 * Atomically replace (or create) `path` with `data` (strings are written as UTF-8).
 * The temporary file lives in the same directory so the final rename never
 * crosses filesystems.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = toBytes(data);
  const tmp = tempPathFor(path);
  const mode = await existingMode(path);
  let created = false;
  let fh: fs.promises.FileHandle | undefined;
  try {
    // 'wx': fail rather than clobber should the random name ever collide.
    fh = await open(tmp, 'wx', mode ?? 0o666);
    created = true;
    if (mode !== undefined) await fh.chmod(mode); // open()'s mode is filtered by umask
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
    created = false;
  } catch (err) {
    if (fh) await fh.close().catch(() => undefined);
    if (created) await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** Synchronous variant of {@link writeFileAtomic}. */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const bytes = toBytes(data);
  const tmp = tempPathFor(path);
  const mode = existingModeSync(path);
  let created = false;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', mode ?? 0o666);
    created = true;
    if (mode !== undefined) fs.fchmodSync(fd, mode);
    let off = 0;
    while (off < bytes.byteLength) {
      off += fs.writeSync(fd, bytes, off, bytes.byteLength - off);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
    created = false;
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* ignore */
      }
    }
    if (created) {
      try {
        fs.unlinkSync(tmp);
      } catch {
        /* ignore */
      }
    }
    throw err;
  }
  fsyncDirSync(dirname(path));
}
