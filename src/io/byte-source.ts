/**
 * Random access to a file's bytes, so that a reader can take only the parts
 * it needs: a zip archive's directory and one entry, say, without its
 * tensors' data (`alae info` on a checkpoint). The readers above check every
 * offset and length against `size` before they call `read`.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { AlaeError } from '../errors.js';

export interface ByteSource {
  readonly size: number;
  /** `length` bytes at `offset`; the caller has checked that they lie inside the source. */
  read(offset: number, length: number): Uint8Array;
}

/** Bytes already in memory: `read` gives views, no copies. */
export function memorySource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/** An open file read piece by piece; counts what it reads. Close it when done. */
export class FileSource implements ByteSource {
  /** Bytes read so far, over all calls. */
  bytesRead = 0;

  private constructor(
    private readonly fd: number,
    readonly size: number,
    readonly file: string,
  ) {}

  /** `what` names the file in the error when it cannot be opened. */
  static open(file: string, what = 'the file'): FileSource {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (e) {
      throw new AlaeError(`cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new AlaeError(st.isDirectory() ? 'is a folder, not a file' : 'is not a regular file', file);
      return new FileSource(fd, st.size, file);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, offset + done);
      if (n === 0) throw new AlaeError(`the file ended at ${offset + done} bytes, shorter than its ${this.size} when opened`, this.file);
      done += n;
    }
    this.bytesRead += length;
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}
