/**
 * `--data <folder>`: the folder's images by the one rule every command
 * uses (image/list-images.ts: image extensions, hidden names and so the
 * cache left out, sorted by relative path; subfolders with `recursive`).
 *
 * ## Decoding
 *
 * 1-3. `decodeImage` of image/image.ts, the path the jobs take too: EXIF
 *    orientation applied, alpha dropped (as the reference), converted to
 *    the requested channels (gray repeated into R, G, B; PIL's luma for 1).
 * 4. Centre crop to a square (`centerSquare`): side s = min(w, h), offset
 *    floor((long-s)/2).
 * 5. To resolution r: when s is an integer multiple k of r, k x k blocks
 *    are averaged in JS (`boxDownscale`: for k a power of two, repeated
 *    truncating 2x2 pooling, exactly how the reference builds each lower
 *    level from the next). Otherwise sharp first resizes (lanczos3) to the
 *    smallest r * 2^j >= s and then the blocks are averaged. Images smaller
 *    than r are upscaled by sharp (j = 0).
 *
 * A file that fails to decode is skipped and listed in `skipped` with the
 * decoder's message; it never stops loading. So is an image whose square
 * is smaller than `minResolution` (training would only upscale it). No
 * readable image at all is an AlaeError naming the folder.
 *
 * ## Cache
 *
 * In `cacheDir` (default `<folder>/.alae-cache`):
 * - `files.json`: every candidate file (relative path, size, mtimeMs) and
 *   whether it decodes (with the error when not) and the side of its
 *   square. It lets a later open know the usable images without decoding
 *   anything.
 * - `r<res>-c<channels>.bin`: the usable images at that resolution, uint8
 *   HWC, one after the other in file order; `r<res>-c<channels>.json`: its
 *   index (resolution, channels, filter version, bytes per image and the
 *   source files with their sizes and mtimes).
 *
 * A cache is reused only when its index matches the folder as listed now
 * (same files, sizes and mtimes); otherwise it is rebuilt. Every file is
 * written to a temporary name and renamed into place, the .bin before its
 * .json, so a crash never leaves a cache that looks valid. When the cache
 * folder cannot be created or written (a read-only dataset), the cache
 * goes to `<os.tmpdir()>/alae-cache/<sha256 of the folder's absolute
 * path, 16 hex>` instead; `cacheDir` on the dataset says where it went.
 *
 * Levels are decoded once: `resolutions` given at open are built in the
 * same pass that checks the files; a level asked for later is built on
 * first `prepare`/`get`. Levels up to `memoryLimitBytes` (default 512 MiB)
 * are held in memory, bigger ones are read from the .bin per image.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, open as openFile, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import sharp from 'sharp';
import { AlaeError } from '../errors.js';
import { centerSquare, convertChannels, decodeImage } from '../image/image.js';
import { AtomicFile, writeFileAtomic } from '../util/atomic.js';
import type { ImageDataset, ProgressFn, SkippedItem } from './dataset.js';
import { isValidResolution } from './dataset.js';
import { boxDownscale } from './downscale.js';
import { listImageFolder } from '../image/list-images.js';

/** Bump when the decoding/filtering changes so old caches are rebuilt. */
export const FOLDER_CACHE_VERSION = 3;
const FILTER = 'rotate,drop-alpha,pil-luma,centre-crop,lanczos3-to-r*2^j,box-trunc';

export interface FolderDatasetOptions {
  /** 1 (grayscale) or 3 (RGB). */
  channels: number;
  /** Where the cache goes; default `<folder>/.alae-cache` (see the module doc for the fallback). */
  cacheDir?: string;
  /** Progress of decoding passes (images done, total). */
  onProgress?: ProgressFn;
  /** Levels to build while opening, in one decode pass. */
  resolutions?: ReadonlyArray<number>;
  /** Called each time a source file is decoded (logs, tests). */
  onDecode?: (file: string) => void;
  /** Images decoded at once (default: cores, 2..8). */
  concurrency?: number;
  /** Keep a level in memory when its cache is at most this big (default 512 MiB). */
  memoryLimitBytes?: number;
  /** Skip images whose square is smaller than this (named in `skipped`). */
  minResolution?: number;
  /** Take the images in subfolders too (default: the folder's own). */
  recursive?: boolean;
}

interface FileEntry {
  path: string; // relative to the folder, native separators
  size: number;
  mtimeMs: number;
}

interface FilesIndex {
  kind: 'alae-folder-files';
  version: number;
  /** `side`: of the decoded square, when it decodes. */
  files: Array<FileEntry & { error?: string; side?: number }>;
}

interface LevelIndex {
  kind: 'alae-folder-level';
  version: number;
  filter: string;
  resolution: number;
  channels: number;
  count: number;
  bytesPerImage: number;
  files: FileEntry[];
}

type LevelStore = { kind: 'memory'; data: Uint8Array } | { kind: 'file'; fh: FileHandle };

/** The decoded square of one file, in the requested channels. */
export async function decodeSquare(file: string, channels: number): Promise<{ data: Uint8Array; size: number }> {
  const sq = centerSquare(await decodeImage(file, channels));
  return { data: sq.data, size: sq.width };
}

/** One level from a decoded square (see the module doc, step 5). */
export async function squareToLevel(
  square: { data: Uint8Array; size: number },
  channels: number,
  resolution: number,
): Promise<Uint8Array> {
  const s = square.size;
  if (s % resolution === 0) return copyIfSame(boxDownscale(square.data, s, channels, resolution), square.data);
  let base = resolution;
  while (base < s) base *= 2;
  const { data, info } = await sharp(square.data, { raw: { width: s, height: s, channels: channels as 1 | 3 } })
    .resize(base, base, { kernel: 'lanczos3', fit: 'fill' })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  let img = new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (info.channels !== channels) img = convertChannels(img, info.channels, channels);
  return boxDownscale(img, base, channels, resolution);
}

function copyIfSame(out: Uint8Array, src: Uint8Array): Uint8Array {
  return out === src ? src.slice() : out;
}

/** The folder's images (list-images.ts) with their sizes and times. */
async function listFiles(folder: string, recursive: boolean): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  for (const rel of await listImageFolder(folder, { recursive })) {
    const st = await stat(join(folder, rel));
    out.push({ path: rel, size: st.size, mtimeMs: st.mtimeMs });
  }
  return out;
}

async function isWritableDir(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, fsConstants.W_OK);
    const probe = join(dir, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    await writeFile(probe, '');
    await unlink(probe);
    return true;
  } catch {
    return false;
  }
}

/** The fallback cache folder for `folder` under the OS temp dir. */
export function fallbackCacheDir(folder: string): string {
  const hash = createHash('sha256').update(resolve(folder)).digest('hex').slice(0, 16);
  return join(tmpdir(), 'alae-cache', hash);
}

async function chooseCacheDir(folder: string, requested: string | undefined): Promise<string> {
  const first = requested ?? join(folder, '.alae-cache');
  if (await isWritableDir(first)) return first;
  const second = fallbackCacheDir(folder);
  if (await isWritableDir(second)) return second;
  throw new AlaeError(`cannot write the image cache to ${first} nor to ${second}`, folder);
}

/** A cache file written atomically; a failure is an AlaeError naming it. */
async function writeCacheFile(path: string, data: string | Uint8Array): Promise<void> {
  try {
    await writeFileAtomic(path, data);
  } catch (e) {
    throw new AlaeError(`cannot write cache file: ${(e as Error).message}`, path);
  }
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

function sameEntries(a: ReadonlyArray<FileEntry>, b: ReadonlyArray<FileEntry>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].path !== b[i].path || a[i].size !== b[i].size || a[i].mtimeMs !== b[i].mtimeMs) return false;
  }
  return true;
}

const plainEntry = (e: FileEntry): FileEntry => ({ path: e.path, size: e.size, mtimeMs: e.mtimeMs });

/** Writes one level's images, in order, to its .bin (atomically: renamed into place on commit). */
class LevelWriter {
  private file: AtomicFile | null = null;
  private pos = 0;
  readonly memory: Uint8Array | null;
  constructor(
    readonly resolution: number,
    readonly binPath: string,
    readonly bytesPerImage: number,
    count: number,
    memoryLimit: number,
  ) {
    this.memory = count * bytesPerImage <= memoryLimit ? new Uint8Array(count * bytesPerImage) : null;
  }
  async open(): Promise<void> {
    this.file = await AtomicFile.open(this.binPath);
  }
  async append(img: Uint8Array): Promise<void> {
    this.memory?.set(img, this.pos);
    let done = 0;
    while (done < img.length) {
      const { bytesWritten } = await this.file!.handle.write(img, done, img.length - done, this.pos + done);
      done += bytesWritten;
    }
    this.pos += img.length;
  }
  async commit(): Promise<void> {
    await this.file!.commit();
    this.file = null;
  }
  async abort(): Promise<void> {
    await this.file?.abort();
    this.file = null;
  }
}

export class FolderDataset implements ImageDataset {
  readonly name: string;
  readonly channels: number;
  readonly maxResolution = null;
  /** Absolute path of the folder. */
  readonly folder: string;
  /** Where the cache actually lives (after any fallback). */
  readonly cacheDir: string;
  /** Usable files (relative paths), in index order. */
  readonly files: ReadonlyArray<string>;
  readonly skipped: ReadonlyArray<SkippedItem>;
  private readonly usable: FileEntry[];
  private readonly levels = new Map<number, Promise<LevelStore>>();
  private readonly opts: FolderDatasetOptions;
  private closed = false;

  get size(): number {
    return this.usable.length;
  }

  private constructor(folder: string, cacheDir: string, usable: FileEntry[], skipped: SkippedItem[], opts: FolderDatasetOptions) {
    this.folder = folder;
    this.name = basename(folder);
    this.cacheDir = cacheDir;
    this.channels = opts.channels;
    this.usable = usable;
    this.files = usable.map((e) => e.path);
    this.skipped = skipped;
    this.opts = opts;
  }

  static async open(folderPath: string, opts: FolderDatasetOptions): Promise<FolderDataset> {
    const channels = opts.channels;
    if (channels !== 1 && channels !== 3) throw new AlaeError(`channels must be 1 or 3, got ${channels}`);
    const folder = resolve(folderPath);
    const st = await stat(folder).catch(() => null);
    if (!st) throw new AlaeError('no such folder', folderPath);
    if (!st.isDirectory()) throw new AlaeError('not a folder', folderPath);
    const resolutions = [...new Set(opts.resolutions ?? [])];
    for (const r of resolutions) if (!isValidResolution(r)) throw new AlaeError(`invalid resolution ${r}`);

    const listing = await listFiles(folder, opts.recursive ?? false);
    if (listing.length === 0) throw new AlaeError(`no images in the folder${opts.recursive ? ' or its subfolders' : ' (subfolders are read with --recursive)'}`, folderPath);
    const cacheDir = await chooseCacheDir(folder, opts.cacheDir);
    const ds0 = { cacheDir, channels };

    // Which files decode: from files.json when it matches the listing.
    const filesPath = join(cacheDir, 'files.json');
    const index = await readJson<FilesIndex>(filesPath);
    let known: FilesIndex['files'] | null = null;
    if (index?.kind === 'alae-folder-files' && index.version === FOLDER_CACHE_VERSION && Array.isArray(index.files) && sameEntries(index.files, listing)) {
      known = index.files;
    }

    const minSide = opts.minResolution ?? 0;
    const fits = (f: FilesIndex['files'][number]): boolean => !f.error && (f.side ?? 0) >= minSide;
    let usable: FileEntry[] = known ? known.filter(fits).map(plainEntry) : [];
    const missing = known ? await Promise.all(resolutions.map(async (r) => ((await loadLevelIndex(ds0, r, usable)) ? null : r))) : resolutions;
    const toBuild = missing.filter((r): r is number => r !== null);
    const built = new Map<number, LevelStore>();
    if (!known || toBuild.length > 0) {
      const sources = known ? usable : listing;
      const res = await decodePass(folder, sources, toBuild, { ...opts, channels, minResolution: minSide }, cacheDir);
      if (known) {
        const bad = res.errors.findIndex((e) => e !== null);
        if (bad >= 0) {
          for (const s of res.levels.values()) if (s.kind === 'file') await s.fh.close();
          throw changedError(folder, usable[bad].path, res.errors[bad]!);
        }
      } else {
        known = sources.map((e, i) => (res.errors[i] === null ? { ...plainEntry(e), side: res.sides[i] } : { ...plainEntry(e), error: res.errors[i]! }));
        await writeCacheFile(filesPath, JSON.stringify({ kind: 'alae-folder-files', version: FOLDER_CACHE_VERSION, files: known } satisfies FilesIndex));
        usable = known.filter(fits).map(plainEntry);
      }
      for (const [r, store] of res.levels) built.set(r, store);
    }
    const skipped: SkippedItem[] = known
      .filter((f) => !fits(f))
      .map((f) => ({ file: join(folder, f.path), reason: f.error ?? `${f.side}x${f.side} (its centre square) is smaller than the ${minSide}x${minSide} it is trained at` }));
    if (usable.length === 0) {
      for (const s of built.values()) if (s.kind === 'file') await s.fh.close();
      const why = skipped.slice(0, 3).map((s) => `${s.file}: ${s.reason}`).join('; ');
      throw new AlaeError(`no usable images in the folder (${skipped.length} left out: ${why})`, folderPath);
    }
    const ds = new FolderDataset(folder, cacheDir, usable, skipped, { ...opts, channels });
    for (const [r, store] of built) ds.levels.set(r, Promise.resolve(store));
    for (const r of resolutions) if (!built.has(r)) await ds.prepare(r);
    return ds;
  }

  async prepare(resolution: number, onProgress?: ProgressFn): Promise<void> {
    await this.level(resolution, onProgress);
  }

  private level(resolution: number, onProgress?: ProgressFn): Promise<LevelStore> {
    if (this.closed) return Promise.reject(new AlaeError('dataset is closed', this.folder));
    if (!isValidResolution(resolution)) return Promise.reject(new AlaeError(`invalid resolution ${resolution}`));
    let p = this.levels.get(resolution);
    if (!p) {
      p = this.loadOrBuild(resolution, onProgress ?? this.opts.onProgress);
      this.levels.set(resolution, p);
      p.catch(() => this.levels.delete(resolution));
    }
    return p;
  }

  private async loadOrBuild(resolution: number, onProgress: ProgressFn | undefined): Promise<LevelStore> {
    const loaded = await loadLevelIndex(this, resolution, this.usable);
    if (loaded) return openLevelStore(levelPaths(this, resolution).bin, loaded, this.opts.memoryLimitBytes);
    const res = await decodePass(this.folder, this.usable, [resolution], { ...this.opts, onProgress }, this.cacheDir);
    const bad = res.errors.findIndex((e) => e !== null);
    if (bad >= 0) {
      const s = res.levels.get(resolution);
      if (s?.kind === 'file') await s.fh.close();
      throw changedError(this.folder, this.usable[bad].path, res.errors[bad]!);
    }
    return res.levels.get(resolution)!;
  }

  async get(index: number, resolution: number): Promise<Uint8Array> {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new AlaeError(`index ${index} out of range 0..${this.size - 1}`, this.folder);
    }
    const store = await this.level(resolution);
    const n = resolution * resolution * this.channels;
    if (store.kind === 'memory') return store.data.subarray(index * n, (index + 1) * n);
    const out = new Uint8Array(n);
    const { bytesRead } = await store.fh.read(out, 0, n, index * n);
    if (bytesRead !== n) throw new AlaeError('cache file is shorter than its index says', levelPaths(this, resolution).bin);
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.levels.values()];
    this.levels.clear();
    for (const p of all) {
      const s = await p.catch(() => null);
      if (s?.kind === 'file') await s.fh.close().catch(() => {});
    }
  }
}

function levelPaths(ds: { cacheDir: string; channels: number }, resolution: number): { bin: string; json: string } {
  const base = join(ds.cacheDir, `r${resolution}-c${ds.channels}`);
  return { bin: `${base}.bin`, json: `${base}.json` };
}

/** The level's index when it exists and matches `usable`; null otherwise. */
async function loadLevelIndex(
  ds: { cacheDir: string; channels: number },
  resolution: number,
  usable: ReadonlyArray<FileEntry>,
): Promise<LevelIndex | null> {
  const paths = levelPaths(ds, resolution);
  const idx = await readJson<LevelIndex>(paths.json);
  const bpi = resolution * resolution * ds.channels;
  if (
    !idx ||
    idx.kind !== 'alae-folder-level' ||
    idx.version !== FOLDER_CACHE_VERSION ||
    idx.filter !== FILTER ||
    idx.resolution !== resolution ||
    idx.channels !== ds.channels ||
    idx.bytesPerImage !== bpi ||
    idx.count !== usable.length ||
    !Array.isArray(idx.files) ||
    !sameEntries(idx.files, usable)
  ) {
    return null;
  }
  const st = await stat(paths.bin).catch(() => null);
  if (!st || st.size !== idx.count * bpi) return null;
  return idx;
}

async function openLevelStore(bin: string, idx: LevelIndex, memoryLimit = 512 << 20): Promise<LevelStore> {
  try {
    if (idx.count * idx.bytesPerImage <= memoryLimit) {
      const buf = await readFile(bin);
      return { kind: 'memory', data: new Uint8Array(buf.buffer, buf.byteOffset, buf.length) };
    }
    return { kind: 'file', fh: await openFile(bin, 'r') };
  } catch (e) {
    throw new AlaeError(`cannot read cache: ${(e as Error).message}`, bin);
  }
}

function changedError(folder: string, path: string, error: string): AlaeError {
  return new AlaeError(`image decoded before but not now (${error}); the folder changed, open it again`, join(folder, path));
}

/**
 * Decode `sources` once each, building the given levels. Returns per source
 * the decode error (or null) and the built levels, which hold only the
 * images that decoded.
 */
async function decodePass(
  folder: string,
  sources: ReadonlyArray<FileEntry>,
  resolutions: ReadonlyArray<number>,
  opts: FolderDatasetOptions,
  cacheDir: string,
): Promise<{ errors: Array<string | null>; sides: number[]; levels: Map<number, LevelStore> }> {
  const channels = opts.channels;
  const minSide = opts.minResolution ?? 0;
  const concurrency = Math.max(1, opts.concurrency ?? Math.min(8, Math.max(2, availableParallelism())));
  const memoryLimit = opts.memoryLimitBytes ?? 512 << 20;
  const stage = resolutions.length ? `decode ${resolutions.map((r) => `r${r}`).join(',')}` : 'check images';
  const errors: Array<string | null> = new Array(sources.length).fill(null);
  const sides: number[] = new Array(sources.length).fill(0);
  // Count is an upper bound when errors are allowed; the memory copy is trimmed at the end.
  const writers = resolutions.map(
    (r) => new LevelWriter(r, levelPaths({ cacheDir, channels }, r).bin, r * r * channels, sources.length, memoryLimit),
  );
  const written: FileEntry[] = [];
  try {
    for (const w of writers) await w.open();
    opts.onProgress?.(0, sources.length, stage);
    for (let start = 0; start < sources.length; start += concurrency) {
      const chunk = sources.slice(start, start + concurrency);
      const results = await Promise.all(
        chunk.map(async (entry) => {
          const file = join(folder, entry.path);
          try {
            opts.onDecode?.(file);
            const square = await decodeSquare(file, channels);
            const imgs: Uint8Array[] = [];
            // Too small for the run: decoded (its side is recorded) but kept out of the levels.
            if (square.size >= minSide) for (const r of resolutions) imgs.push(await squareToLevel(square, channels, r));
            return { imgs, side: square.size, error: null };
          } catch (e) {
            // Anything going wrong with one file (unreadable, corrupt, odd format) skips that file.
            // `skipped` names the file beside the reason, so the reason drops an AlaeError's file prefix.
            const message = (e as Error)?.message || String(e);
            const reason = e instanceof AlaeError && e.file ? message.slice(e.file.length + 2) : message;
            return { imgs: [], side: 0, error: reason.split('\n')[0] };
          }
        }),
      );
      for (let i = 0; i < results.length; i++) {
        const r = results[i];
        sides[start + i] = r.side;
        if (r.error !== null) {
          errors[start + i] = r.error;
          continue;
        }
        if (r.side < minSide) continue;
        for (let j = 0; j < writers.length; j++) await writers[j].append(r.imgs[j]);
        written.push(plainEntry(sources[start + i]));
      }
      opts.onProgress?.(Math.min(start + concurrency, sources.length), sources.length, stage);
    }
    const levels = new Map<number, LevelStore>();
    for (const w of writers) {
      await w.commit();
      const idx: LevelIndex = {
        kind: 'alae-folder-level',
        version: FOLDER_CACHE_VERSION,
        filter: FILTER,
        resolution: w.resolution,
        channels,
        count: written.length,
        bytesPerImage: w.bytesPerImage,
        files: written,
      };
      await writeCacheFile(levelPaths({ cacheDir, channels }, w.resolution).json, JSON.stringify(idx));
      if (w.memory) levels.set(w.resolution, { kind: 'memory', data: w.memory.subarray(0, written.length * w.bytesPerImage) });
      else levels.set(w.resolution, await openLevelStore(w.binPath, idx, memoryLimit));
    }
    return { errors, sides, levels };
  } catch (e) {
    for (const w of writers) await w.abort();
    if (e instanceof AlaeError) throw e;
    throw new AlaeError(`building the image cache failed: ${(e as Error).message}`, cacheDir);
  }
}
