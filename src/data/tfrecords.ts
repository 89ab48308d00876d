/**
 * `--data <pattern>.tfrecords`: images stored the way the reference ALAE's
 * `dataset_preparation` scripts store them — one `tf.train.Example` per
 * image with a `data` bytes feature (uint8, CHW) and a `shape` int64
 * feature [C, H, W] — one file set per level of detail.
 *
 * ## Which files
 *
 * Wildcards and placeholders are allowed in the file name only, never in
 * the directory part:
 *
 * - `%d` / `%0Nd` (printf style): the first one stands for log2 of the
 *   resolution, a second one (if any) for the part number, as in the
 *   reference's configs, e.g. `data/celeba-r%02d.tfrecords.%03d` or
 *   `data/ffhq-r%02d.tfrecords`. A zero-padded placeholder only matches
 *   numbers written with that padding.
 * - `*` (any run of characters) and `?` (one character), e.g.
 *   `dir/ffhq-r*.tfrecords*` or `dir/*-r05.tfrecords`.
 * - a plain path names one file.
 *
 * Files are sorted (by the numbers in their names, then by name). Every
 * file is scanned once when the dataset is opened: framing and both CRCs
 * are checked and every Example is parsed. Each file's resolution is that
 * of its records (square H == W), so the file set of each level of detail
 * is found from the contents and the naming scheme does not matter.
 *
 * ## Which image is index i
 *
 * The reference writes image n to record k of part p in every level's file
 * set. An image is therefore keyed by (p, k) where p is the file's position
 * among the files of the same resolution; it is usable when every level
 * has a good record for it, and the usable keys, in (p, k) order, are
 * indices 0..size-1. A level that has no file set is made by 2x2 average
 * pooling (truncated, like the reference) from the nearest higher level;
 * resolutions above the highest level cannot be served.
 *
 * ## Damage
 *
 * A record whose payload CRC fails, that does not parse, or whose shape
 * does not fit its data is skipped and named in `skipped` as
 * `<file>#<record index>`. A bad length CRC or a file that ends inside a
 * record ends that file there (named too); the records before stay usable.
 *
 * Pixels of all files (up to `memoryLimitBytes` of files, default 1 GiB)
 * are kept in memory after the scan; bigger sets are read from disk per
 * image.
 */
import { open as openFile, readdir, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AlaeError } from '../errors.js';
import { convertChannels } from '../image/image.js';
import { maskedCrc32c } from './crc32c.js';
import type { ImageDataset, ProgressFn, SkippedItem } from './dataset.js';
import { isPowerOfTwo, isValidResolution } from './dataset.js';
import { parseExample, ProtoError } from './example.js';
import { boxDownscale } from './downscale.js';

export interface TfrecordsDatasetOptions {
  /** Channels to return: 1 or 3. Records with 1 or 3 channels are converted (see `convertChannels`). */
  channels: number;
  /** Scan progress in bytes. */
  onProgress?: ProgressFn;
  /** Keep decoded pixels in memory when the files total at most this many bytes (default 1 GiB). */
  memoryLimitBytes?: number;
}

/** Planar CHW (the reference's record layout) to interleaved HWC. */
export function chwToHwc(src: Uint8Array, channels: number, height: number, width: number): Uint8Array {
  if (channels === 1) return src;
  const plane = height * width;
  const out = new Uint8Array(plane * channels);
  for (let c = 0; c < channels; c++) {
    const base = c * plane;
    for (let p = 0, o = c; p < plane; p++, o += channels) out[o] = src[base + p];
  }
  return out;
}

/** True when `spec` names TFRecords: contains `%d`-style placeholders or a `.tfrecords` file name. */
export function looksLikeTfrecordsSpec(spec: string): boolean {
  const name = basename(spec);
  return /%0?\d*d/.test(name) || /\.tfrecords?(\b|$)/i.test(name);
}

const PLACEHOLDER = /%(0?)(\d*)d/g;

function escapeRegex(s: string): string {
  return s.replace(/[.+^${}()|[\]\\]/g, '\\$&');
}

function naturalCompare(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i];
    const y = rb[i];
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    }
    return x < y ? -1 : 1;
  }
  if (ra.length !== rb.length) return ra.length - rb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The files a TFRecords spec names (see the module doc), sorted. Throws
 * AlaeError naming the spec when nothing matches.
 */
export async function resolveTfrecordFiles(spec: string): Promise<string[]> {
  const dir = dirname(spec);
  const name = basename(spec);
  if (/[*?%]/.test(dir)) {
    throw new AlaeError('wildcards and %d placeholders are only allowed in the file name, not in the directory', spec);
  }
  const hasPattern = /[*?]/.test(name) || PLACEHOLDER.test(name);
  PLACEHOLDER.lastIndex = 0;
  if (!hasPattern) {
    const st = await stat(spec).catch(() => null);
    if (!st) throw new AlaeError('no such tfrecords file', spec);
    if (!st.isFile()) throw new AlaeError('not a file', spec);
    return [spec];
  }
  // Build a regex: placeholders capture digits, * and ? are wildcards.
  const widths: Array<{ pad: boolean; width: number }> = [];
  let re = '^';
  let last = 0;
  const tokens = /%(0?)(\d*)d|\*|\?/g;
  for (let m = tokens.exec(name); m; m = tokens.exec(name)) {
    re += escapeRegex(name.slice(last, m.index));
    if (m[0] === '*') re += '.*';
    else if (m[0] === '?') re += '.';
    else {
      widths.push({ pad: m[1] === '0', width: m[2] ? Number(m[2]) : 0 });
      re += '(\\d+)';
    }
    last = m.index + m[0].length;
  }
  re += escapeRegex(name.slice(last)) + '$';
  if (widths.length > 2) throw new AlaeError('at most two %d placeholders (log2 resolution, part)', spec);
  const regex = new RegExp(re);
  let entries: string[];
  try {
    entries = await readdir(dir === '' ? '.' : dir);
  } catch {
    throw new AlaeError('no such folder for the tfrecords pattern', dir);
  }
  const found: Array<{ file: string; keys: number[] }> = [];
  for (const e of entries) {
    const m = regex.exec(e);
    if (!m) continue;
    const nums = m.slice(1).map(Number);
    const ok = m.slice(1).every((digits, i) => {
      const w = widths[i];
      // %02d matches exactly what printf would write: padded to the width, no extra zeros.
      const printed = w.pad ? String(Number(digits)).padStart(w.width, '0') : String(Number(digits));
      return printed === digits;
    });
    if (!ok) continue;
    const file = join(dir, e);
    const st = await stat(file).catch(() => null);
    if (st?.isFile()) found.push({ file, keys: nums });
  }
  if (found.length === 0) throw new AlaeError('no tfrecords files match', spec);
  found.sort((a, b) => {
    for (let i = 0; i < a.keys.length; i++) if (a.keys[i] !== b.keys[i]) return a.keys[i] - b.keys[i];
    return naturalCompare(a.file, b.file);
  });
  return found.map((f) => f.file);
}

/** Buffered positional reader over a file. */
class ChunkReader {
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  private bufLen = 0;
  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly chunk = 4 << 20,
  ) {}

  /** Up to n bytes at pos (fewer only at end of file). The view is valid until the next call. */
  async read(pos: number, n: number): Promise<Uint8Array> {
    if (pos >= this.bufStart && pos + n <= this.bufStart + this.bufLen) {
      return this.buf.subarray(pos - this.bufStart, pos - this.bufStart + n);
    }
    const want = Math.min(Math.max(n, this.chunk), Math.max(0, this.size - pos));
    if (this.buf.length < want) this.buf = new Uint8Array(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.fh.read(this.buf, got, want - got, pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.bufStart = pos;
    this.bufLen = got;
    return this.buf.subarray(0, Math.min(n, got));
  }
}

/** Reads the first record header of a file and checks its length CRC. */
export async function isTfrecordFile(file: string): Promise<boolean> {
  let fh: FileHandle | null = null;
  try {
    fh = await openFile(file, 'r');
    const head = new Uint8Array(12);
    const { bytesRead } = await fh.read(head, 0, 12, 0);
    if (bytesRead < 12) return false;
    const dv = new DataView(head.buffer);
    return maskedCrc32c(head, 0, 8) === dv.getUint32(8, true);
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}

interface RecordRef {
  /** Byte offset of the CHW `data` bytes in the file. */
  offset: number;
  c: number;
  h: number;
  w: number;
  /** HWC pixels with the record's own channel count (memory mode). */
  pixels: Uint8Array | null;
}

interface ScannedFile {
  file: string;
  /** One entry per record in file order; null for a skipped record. */
  records: Array<RecordRef | null>;
  resolution: number | null;
}

/** The outcome of reading one TFRecord file record by record. */
async function scanFile(
  file: string,
  keepPixels: boolean,
  skipped: SkippedItem[],
  progress: (bytes: number) => void,
): Promise<ScannedFile> {
  const fh = await openFile(file, 'r').catch((e: Error) => {
    throw new AlaeError(`cannot open: ${e.message}`, file);
  });
  const out: ScannedFile = { file, records: [], resolution: null };
  try {
    const size = (await fh.stat()).size;
    const reader = new ChunkReader(fh, size);
    let pos = 0;
    for (let k = 0; ; k++) {
      progress(pos);
      if (pos >= size) break;
      const head = await reader.read(pos, 12);
      if (head.length < 12) {
        skipped.push({ file: `${file}#${k}`, reason: `file ends inside a record header at byte ${pos} (truncated)` });
        break;
      }
      const dv = new DataView(head.buffer, head.byteOffset, 12);
      const len = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
      if (maskedCrc32c(head, 0, 8) !== dv.getUint32(8, true)) {
        skipped.push({ file: `${file}#${k}`, reason: `record length CRC mismatch at byte ${pos}; the rest of the file is unreadable` });
        break;
      }
      if (pos + 12 + len + 4 > size) {
        skipped.push({ file: `${file}#${k}`, reason: `file ends inside the record (needs ${len} bytes at byte ${pos + 12}; truncated)` });
        break;
      }
      const body = await reader.read(pos + 12, len + 4);
      const bodyStart = pos + 12;
      pos += 12 + len + 4;
      const bdv = new DataView(body.buffer, body.byteOffset, body.length);
      if (maskedCrc32c(body, 0, len) !== bdv.getUint32(len, true)) {
        skipped.push({ file: `${file}#${k}`, reason: 'record data CRC mismatch' });
        out.records.push(null);
        continue;
      }
      let ref: RecordRef;
      try {
        const feats = parseExample(body, 0, len);
        const shape = feats.get('shape');
        const data = feats.get('data');
        if (!shape || shape.kind !== 'int64' || shape.values.length !== 3) {
          throw new ProtoError('no int64 `shape` feature [C, H, W]');
        }
        if (!data || data.kind !== 'bytes' || data.values.length !== 1) throw new ProtoError('no bytes `data` feature');
        const [c, h, w] = shape.values;
        const d = data.values[0];
        if (!(c >= 1 && h >= 1 && w >= 1) || c * h * w !== d.length) {
          throw new ProtoError(`shape [${c}, ${h}, ${w}] does not fit ${d.length} data bytes`);
        }
        if (h !== w) throw new ProtoError(`image is not square (${h}x${w})`);
        ref = {
          offset: bodyStart + d.offset,
          c,
          h,
          w,
          pixels: keepPixels ? chwToHwc(body.slice(d.offset, d.offset + d.length), c, h, w) : null,
        };
      } catch (e) {
        if (!(e instanceof ProtoError)) throw e;
        skipped.push({ file: `${file}#${k}`, reason: `bad tf.train.Example: ${e.message}` });
        out.records.push(null);
        continue;
      }
      if (out.resolution === null) out.resolution = ref.h;
      if (ref.h !== out.resolution) {
        skipped.push({ file: `${file}#${k}`, reason: `record is ${ref.h}x${ref.w} but the file's first record is ${out.resolution}x${out.resolution}` });
        out.records.push(null);
        continue;
      }
      out.records.push(ref);
    }
  } finally {
    await fh.close();
  }
  return out;
}

export class TfrecordsDataset implements ImageDataset {
  readonly name: string;
  readonly size: number;
  readonly channels: number;
  readonly maxResolution: number;
  readonly skipped: ReadonlyArray<SkippedItem>;
  /** The files read, sorted. */
  readonly files: ReadonlyArray<string>;
  /** Channels stored in the records. */
  readonly sourceChannels: number;
  /** Resolutions that have their own file set, ascending. */
  readonly levels: ReadonlyArray<number>;
  /** Per level: the record of each usable image. */
  private readonly byLevel: Map<number, Array<RecordRef & { file: string }>>;
  private readonly handles = new Map<string, Promise<FileHandle>>();
  private closed = false;

  private constructor(init: {
    name: string;
    channels: number;
    sourceChannels: number;
    files: string[];
    skipped: SkippedItem[];
    byLevel: Map<number, Array<RecordRef & { file: string }>>;
    size: number;
  }) {
    this.name = init.name;
    this.channels = init.channels;
    this.sourceChannels = init.sourceChannels;
    this.files = init.files;
    this.skipped = init.skipped;
    this.byLevel = init.byLevel;
    this.size = init.size;
    this.levels = [...init.byLevel.keys()].sort((a, b) => a - b);
    this.maxResolution = this.levels[this.levels.length - 1];
  }

  static async open(spec: string, opts: TfrecordsDatasetOptions): Promise<TfrecordsDataset> {
    if (opts.channels !== 1 && opts.channels !== 3) {
      throw new AlaeError(`channels must be 1 or 3, got ${opts.channels}`);
    }
    const files = await resolveTfrecordFiles(spec);
    const sizes = await Promise.all(files.map(async (f) => (await stat(f)).size));
    const totalBytes = sizes.reduce((a, b) => a + b, 0);
    const keepPixels = totalBytes <= (opts.memoryLimitBytes ?? 1 << 30);
    const skipped: SkippedItem[] = [];
    const scanned: ScannedFile[] = [];
    let before = 0;
    let reported = 0;
    const step = Math.max(1 << 20, totalBytes / 200); // at most ~200 progress calls
    for (let i = 0; i < files.length; i++) {
      const base = before;
      scanned.push(
        await scanFile(files[i], keepPixels, skipped, (b) => {
          if (opts.onProgress && base + b - reported >= step) {
            reported = base + b;
            opts.onProgress(reported, totalBytes, 'scan tfrecords');
          }
        }),
      );
      before += sizes[i];
    }
    opts.onProgress?.(totalBytes, totalBytes, 'scan tfrecords');

    // Channels: the first good record decides; others must agree.
    let sourceChannels = 0;
    for (const s of scanned) {
      s.records.forEach((r, k) => {
        if (!r) return;
        if (sourceChannels === 0) sourceChannels = r.c;
        else if (r.c !== sourceChannels) {
          skipped.push({ file: `${s.file}#${k}`, reason: `record has ${r.c} channels, the first record has ${sourceChannels}` });
          s.records[k] = null;
        }
      });
    }
    if (sourceChannels === 0) {
      throw new AlaeError('no readable images in the tfrecords files' + (skipped.length ? ` (${skipped.length} skipped)` : ''), spec);
    }
    if (sourceChannels !== opts.channels && !(sourceChannels === 1 || sourceChannels === 3)) {
      throw new AlaeError(`images have ${sourceChannels} channels and cannot be converted to ${opts.channels}`, spec);
    }

    // Group files by resolution; key images by (part position, record index).
    const groups = new Map<number, ScannedFile[]>();
    for (const s of scanned) {
      if (s.resolution === null) continue;
      const g = groups.get(s.resolution) ?? [];
      g.push(s);
      groups.set(s.resolution, g);
    }
    const levels = [...groups.keys()].sort((a, b) => a - b);
    const parts = Math.min(...levels.map((r) => groups.get(r)!.length));
    for (const r of levels) {
      const g = groups.get(r)!;
      if (g.length !== parts) {
        skipped.push({
          file: g[parts].file,
          reason: `resolution ${r} has ${g.length} files but another level has only ${parts}; files after the first ${parts} are not used`,
        });
      }
    }
    const byLevel = new Map<number, Array<RecordRef & { file: string }>>();
    for (const r of levels) byLevel.set(r, []);
    for (let p = 0; p < parts; p++) {
      const count = Math.min(...levels.map((r) => groups.get(r)![p].records.length));
      for (let k = 0; k < count; k++) {
        const recs = levels.map((r) => groups.get(r)![p].records[k]);
        if (recs.some((x) => x === null)) continue;
        levels.forEach((r, i) => byLevel.get(r)!.push({ ...recs[i]!, file: groups.get(r)![p].file }));
      }
    }
    const size = byLevel.get(levels[0])!.length;
    if (size === 0) {
      throw new AlaeError('no image has a readable record at every resolution' + ` (${skipped.length} skipped)`, spec);
    }
    return new TfrecordsDataset({
      name: basename(spec),
      channels: opts.channels,
      sourceChannels,
      files,
      skipped,
      byLevel,
      size,
    });
  }

  async prepare(resolution: number, _onProgress?: ProgressFn): Promise<void> {
    this.sourceLevel(resolution);
  }

  /** The level to read for `resolution`: its own, or the nearest higher one to pool from. */
  private sourceLevel(resolution: number): number {
    if (!isValidResolution(resolution)) throw new AlaeError(`invalid resolution ${resolution}`);
    if (this.byLevel.has(resolution)) return resolution;
    for (const r of this.levels) {
      if (r > resolution && r % resolution === 0 && isPowerOfTwo(r / resolution)) return r;
    }
    throw new AlaeError(
      `resolution ${resolution} is not available: the tfrecords hold ${this.levels.join(', ')} and lower levels must be a power-of-two fraction of one of them`,
      this.name,
    );
  }

  async get(index: number, resolution: number): Promise<Uint8Array> {
    if (this.closed) throw new AlaeError('dataset is closed', this.name);
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new AlaeError(`index ${index} out of range 0..${this.size - 1}`, this.name);
    }
    const level = this.sourceLevel(resolution);
    const rec = this.byLevel.get(level)![index];
    let px = rec.pixels;
    if (!px) {
      const fh = await this.handle(rec.file);
      const n = rec.c * rec.h * rec.w;
      const raw = new Uint8Array(n);
      const { bytesRead } = await fh.read(raw, 0, n, rec.offset);
      if (bytesRead !== n) throw new AlaeError('file shrank since it was scanned', rec.file);
      px = chwToHwc(raw, rec.c, rec.h, rec.w);
    }
    if (level !== resolution) px = boxDownscale(px, level, rec.c, resolution);
    return convertChannels(px, rec.c, this.channels);
  }

  private handle(file: string): Promise<FileHandle> {
    let h = this.handles.get(file);
    if (!h) {
      h = openFile(file, 'r');
      this.handles.set(file, h);
    }
    return h;
  }

  async close(): Promise<void> {
    this.closed = true;
    const hs = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(hs.map(async (h) => (await h.catch(() => null))?.close()));
  }
}
