/**
 * Atomic file writes, the one way this package replaces a file: the data goes
 * to a uniquely named temporary file in the target's directory, is flushed to
 * disk, and is then renamed over the target.
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
 * A file written under a temporary name beside its target (hidden, pid +
 * random, `.tmp`; the same directory, so the rename never crosses
 * filesystems). `commit()` flushes it to disk and renames it over the
 * target, keeping the mode of a file it replaces; `abort()` removes it.
 * Streaming writers (the image cache, latents files) write through `handle`;
 * everything else calls writeFileAtomic.
 */
export class AtomicFile {
  private closed = false;

  private constructor(
    readonly target: string,
    readonly tempPath: string,
    readonly handle: fs.promises.FileHandle,
  ) {}

  /** Open the temporary file for `target` (which is not touched until commit). */
  static async open(target: string): Promise<AtomicFile> {
    const tmp = tempPathFor(target);
    const mode = await existingMode(target);
    // 'wx': fail rather than clobber should the random name ever collide.
    const fh = await open(tmp, 'wx', mode ?? 0o666);
    const file = new AtomicFile(target, tmp, fh);
    try {
      if (mode !== undefined) await fh.chmod(mode); // open()'s mode is filtered by umask
    } catch (e) {
      await file.abort();
      throw e;
    }
    return file;
  }

  /** fsync, close and rename over the target; on failure the temporary file is removed and the error rethrown. */
  async commit(): Promise<void> {
    try {
      await this.handle.sync();
      this.closed = true;
      await this.handle.close();
      await rename(this.tempPath, this.target);
    } catch (err) {
      await this.abort();
      throw err;
    }
    await fsyncDir(dirname(this.target));
  }

  /** Close and remove the temporary file (the target is left as it was). Safe to call more than once. */
  async abort(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.handle.close().catch(() => undefined);
    }
    await unlink(this.tempPath).catch(() => undefined);
  }
}

/** Atomically replace (or create) `path` with `data` (strings are written as UTF-8). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const file = await AtomicFile.open(path);
  try {
    await file.handle.writeFile(toBytes(data));
  } catch (err) {
    await file.abort();
    throw err;
  }
  await file.commit();
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
