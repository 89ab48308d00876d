import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { fallbackCacheDir, FolderDataset } from '../../src/data/folder.js';
import { openDataset } from '../../src/data/open.js';
import { Rng } from '../../src/util/random.js';

const CELEBA = '../shared/faces/celeba-aligned128';
const root = mkdtempSync(join(tmpdir(), 'alae-folder-'));
const cleanup: string[] = [root];
afterAll(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  try {
    rmdirSync(join(tmpdir(), 'alae-cache')); // only when empty (the fallback test made it)
  } catch {
    /* not empty or absent */
  }
});

let dirCount = 0;
function newDir(): string {
  const d = join(root, `d${dirCount++}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Independent reference: mean of each 2x2 block, truncated, level by level. */
function refPool(src: Uint8Array, size: number, ch: number, target: number): Uint8Array {
  let img = src;
  for (let s = size; s > target; s /= 2) {
    const h = s / 2;
    const out = new Uint8Array(h * h * ch);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < h; x++)
        for (let c = 0; c < ch; c++) {
          const p = (yy: number, xx: number) => img[(yy * s + xx) * ch + c];
          out[(y * h + x) * ch + c] = Math.trunc((p(2 * y, 2 * x) + p(2 * y, 2 * x + 1) + p(2 * y + 1, 2 * x) + p(2 * y + 1, 2 * x + 1)) / 4);
        }
    img = out;
  }
  return img;
}

async function raw(file: string): Promise<Uint8Array> {
  const b = await sharp(file).raw().toBuffer();
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

function noise(w: number, h: number, ch: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const b = Buffer.alloc(w * h * ch);
  for (let i = 0; i < b.length; i++) b[i] = rng.int(0, 255);
  return b;
}

describe('image folder', () => {
  it('loads the CelebA samples and box-downscales them exactly', async () => {
    const cacheDir = join(root, 'celeba-cache');
    let decodes = 0;
    const progress: number[] = [];
    const ds = await FolderDataset.open(CELEBA, {
      channels: 3,
      cacheDir,
      resolutions: [32, 128],
      onDecode: () => decodes++,
      onProgress: (done, total) => progress.push(done / total),
    });
    const count = readdirSync(CELEBA).filter((f) => /\.png$/.test(f)).length;
    expect(ds.size).toBe(count);
    expect(ds.skipped).toEqual([]);
    expect(decodes).toBe(count);
    expect(progress[progress.length - 1]).toBe(1);
    expect(ds.files[0]).toBe('00000.png');
    expect(ds.cacheDir).toBe(cacheDir);
    const src = await raw(join(CELEBA, '00000.png'));
    expect(await ds.get(0, 128)).toEqual(src);
    expect(await ds.get(0, 32)).toEqual(refPool(src, 128, 3, 32));
    // a level asked for later is built from the sources once
    await ds.prepare(16);
    expect(decodes).toBe(2 * count);
    const src7 = await raw(join(CELEBA, ds.files[7]));
    expect(await ds.get(7, 16)).toEqual(refPool(src7, 128, 3, 16));
    // nothing was written into the shared folder
    expect(readdirSync(CELEBA).some((f) => f.startsWith('.'))).toBe(false);
    await ds.close();
  });

  it('resizes non power-of-two multiples with sharp first, then box-averages', async () => {
    const d = newDir();
    await sharp(noise(64, 64, 3, 1), { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(join(d, 'a.png'));
    await sharp(noise(100, 100, 3, 2), { raw: { width: 100, height: 100, channels: 3 } }).png().toFile(join(d, 'b.png'));
    const ds = await FolderDataset.open(d, { channels: 3, cacheDir: join(d, 'cache') });
    const a = await raw(join(d, 'a.png'));
    expect(await ds.get(0, 16)).toEqual(refPool(a, 64, 3, 16));
    const b = await raw(join(d, 'b.png'));
    const up = await sharp(Buffer.from(b), { raw: { width: 100, height: 100, channels: 3 } }).resize(128, 128, { kernel: 'lanczos3' }).raw().toBuffer();
    expect(await ds.get(1, 32)).toEqual(refPool(new Uint8Array(up), 128, 3, 32));
    // 100 is a multiple of 25 and 50: no resampling, plain block means
    const b25 = await ds.get(1, 25);
    let s = 0;
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) s += b[(y * 100 + x) * 3];
    expect(b25[0]).toBe(Math.floor(s / 16));
    await ds.close();
  });

  it('centre-crops non-square images after applying EXIF orientation', async () => {
    const d = newDir();
    const w = 80;
    const h = 48;
    const img = Buffer.alloc(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img[y * w + x] = (x * 3 + y) & 255;
    await sharp(img, { raw: { width: w, height: h, channels: 1 } }).png().toFile(join(d, 'wide.png'));
    // 64x32: left half red, right half blue, stored with orientation 6 (shown rotated 90 degrees clockwise)
    const rb = Buffer.alloc(64 * 32 * 3);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 64; x++) rb.set(x < 32 ? [255, 0, 0] : [0, 0, 255], (y * 64 + x) * 3);
    await sharp(rb, { raw: { width: 64, height: 32, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toFile(join(d, 'x-rotated.jpg'));
    const ds = await FolderDataset.open(d, { channels: 1, cacheDir: join(d, 'cache') });
    expect(ds.files).toEqual(['wide.png', 'x-rotated.jpg']);
    const crop = await ds.get(0, 48);
    for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) expect(crop[y * 48 + x]).toBe(((x + 16) * 3 + y) & 255);
    const rgb = await FolderDataset.open(d, { channels: 3, cacheDir: join(d, 'cache') });
    const rot = await rgb.get(1, 2); // upright: 32 wide, 64 tall, red on top; crop keeps rows 16..47
    expect(rot[0]).toBeGreaterThan(200); // top-left red
    expect(rot[2]).toBeLessThan(50);
    expect(rot[2 * 3 + 2]).toBeGreaterThan(200); // bottom-left blue
    expect(rot[2 * 3]).toBeLessThan(50);
    await ds.close();
    await rgb.close();
  });

  it('drops alpha (as the reference) and converts gray <-> RGB', async () => {
    const d = newDir();
    await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 200, g: 100, b: 50, alpha: 0.5 } } }).png().toFile(join(d, 'a-rgba.png'));
    await sharp(Buffer.alloc(64, 77), { raw: { width: 8, height: 8, channels: 1 } }).png().toFile(join(d, 'b-gray.png'));
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 255, g: 255, b: 255 } } }).webp({ lossless: true }).toFile(join(d, 'c-white.webp'));
    const rgb = await FolderDataset.open(d, { channels: 3, cacheDir: join(d, 'cache') });
    expect(rgb.size).toBe(3);
    expect([...(await rgb.get(0, 4)).subarray(0, 3)]).toEqual([200, 100, 50]);
    expect([...(await rgb.get(1, 4)).subarray(0, 6)]).toEqual([77, 77, 77, 77, 77, 77]);
    const gray = await FolderDataset.open(d, { channels: 1, cacheDir: join(d, 'cache') });
    const g = await gray.get(1, 4);
    expect(g.length).toBe(16);
    expect(g[0]).toBe(77);
    expect((await gray.get(2, 4))[0]).toBe(255);
    await rgb.close();
    await gray.close();
  });

  it('skips and names corrupt files; no readable image is an error', async () => {
    const d = newDir();
    for (const f of ['00000.png', '00001.png', '00002.png']) copyFileSync(join(CELEBA, f), join(d, f));
    writeFileSync(join(d, 'broken.png'), 'not a png at all');
    const good = statSync(join(CELEBA, '00003.png')).size;
    const bytes = Buffer.from(await sharp(join(CELEBA, '00003.png')).png().toBuffer());
    writeFileSync(join(d, 'cut.png'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    mkdirSync(join(d, 'sub'));
    copyFileSync(join(CELEBA, '00004.png'), join(d, 'sub', '00004.png'));
    writeFileSync(join(d, 'notes.txt'), 'ignored');
    expect(good).toBeGreaterThan(0);
    // The folder's own images by default (as every command reads folders); its subfolders' with recursive.
    const flat = await FolderDataset.open(d, { channels: 3, cacheDir: join(d, 'cache-flat'), resolutions: [8] });
    expect(flat.files).toEqual(['00000.png', '00001.png', '00002.png']);
    await flat.close();
    const ds = await FolderDataset.open(d, { channels: 3, cacheDir: join(d, 'cache'), resolutions: [8], recursive: true });
    expect(ds.size).toBe(4);
    expect(ds.files).toEqual(['00000.png', '00001.png', '00002.png', join('sub', '00004.png')]);
    expect(ds.skipped.map((s) => s.file).sort()).toEqual([join(d, 'broken.png'), join(d, 'cut.png')]);
    for (const s of ds.skipped) expect(s.reason.length).toBeGreaterThan(0);
    await ds.close();

    const bad = newDir();
    writeFileSync(join(bad, 'x.jpg'), 'garbage');
    await expect(FolderDataset.open(bad, { channels: 3, cacheDir: join(bad, 'cache') })).rejects.toThrow(/no usable images.*x\.jpg/);
    const empty = newDir();
    await expect(openDataset(empty, { channels: 3 })).rejects.toThrow(new RegExp(`${empty}: no images in the folder \\(subfolders are read with --recursive\\)`));
    await expect(openDataset(join(root, 'nope'), { channels: 3 })).rejects.toThrow(/nope: no such folder/);
  });

  it('leaves out images smaller than minResolution, naming them; the same cache serves any minimum', async () => {
    const d = newDir();
    for (const f of ['00000.png', '00001.png']) copyFileSync(join(CELEBA, f), join(d, f));
    await sharp({ create: { width: 12, height: 8, channels: 3, background: { r: 10, g: 20, b: 30 } } }).png().toFile(join(d, 'small.png'));
    let decodes = 0;
    const strict = await FolderDataset.open(d, { channels: 3, resolutions: [8], minResolution: 16, onDecode: () => decodes++ });
    expect(strict.files).toEqual(['00000.png', '00001.png']);
    expect(strict.skipped).toEqual([{ file: join(resolve(d), 'small.png'), reason: '8x8 (its centre square) is smaller than the 16x16 it is trained at' }]);
    const first = (await strict.get(1, 8)).slice();
    await strict.close();
    expect(decodes).toBe(3);
    // A lower minimum takes the small image too, from the same files.json; the level is rebuilt to hold it.
    const loose = await FolderDataset.open(d, { channels: 3, resolutions: [8], minResolution: 8, onDecode: () => decodes++ });
    expect(loose.files).toEqual(['00000.png', '00001.png', 'small.png']);
    expect(loose.skipped).toEqual([]);
    expect(await loose.get(1, 8)).toEqual(first);
    expect([...(await loose.get(2, 8)).subarray(0, 3)]).toEqual([10, 20, 30]);
    await loose.close();
  });

  it('reuses the cache without decoding and rebuilds it when a file changes', async () => {
    const d = newDir();
    for (const f of ['00010.png', '00011.png', '00012.png']) copyFileSync(join(CELEBA, f), join(d, f));
    let decodes = 0;
    const onDecode = () => decodes++;
    const first = await FolderDataset.open(d, { channels: 3, resolutions: [16], onDecode });
    expect(first.cacheDir).toBe(join(resolve(d), '.alae-cache'));
    expect(decodes).toBe(3);
    const index = join(first.cacheDir, 'r16-c3.json');
    const mtime = statSync(index).mtimeMs;
    const img = (await first.get(2, 16)).slice();
    await first.close();

    decodes = 0;
    const again = await FolderDataset.open(d, { channels: 3, resolutions: [16], onDecode });
    expect(decodes).toBe(0);
    expect(statSync(index).mtimeMs).toBe(mtime);
    expect(await again.get(2, 16)).toEqual(img);
    await again.prepare(16);
    expect(decodes).toBe(0);
    // a level not cached yet decodes, then is reused too
    await again.prepare(8);
    expect(decodes).toBe(3);
    await again.close();
    // no temporary files are left behind
    expect(readdirSync(first.cacheDir).sort()).toEqual(['files.json', 'r16-c3.bin', 'r16-c3.json', 'r8-c3.bin', 'r8-c3.json']);

    // change one file (new content and mtime): caches are rebuilt
    copyFileSync(join(CELEBA, '00020.png'), join(d, '00012.png'));
    utimesSync(join(d, '00012.png'), new Date(), new Date(Date.now() + 5000));
    decodes = 0;
    const changed = await FolderDataset.open(d, { channels: 3, resolutions: [16], onDecode });
    expect(decodes).toBe(3);
    expect(await changed.get(2, 16)).toEqual(refPool(await raw(join(CELEBA, '00020.png')), 128, 3, 16));
    await changed.prepare(8);
    expect(decodes).toBe(6);
    await changed.close();

    // an added file invalidates as well
    copyFileSync(join(CELEBA, '00021.png'), join(d, '00013.png'));
    decodes = 0;
    const added = await FolderDataset.open(d, { channels: 3, resolutions: [16], onDecode });
    expect(added.size).toBe(4);
    expect(decodes).toBe(4);
    await added.close();
  });

  it('falls back to a temp cache when the cache folder cannot be written', async () => {
    const d = newDir();
    copyFileSync(join(CELEBA, '00030.png'), join(d, 'a.png'));
    const blocker = join(d, 'blocker');
    writeFileSync(blocker, 'a file where a folder should be');
    const fallback = fallbackCacheDir(d);
    cleanup.push(fallback);
    const ds = await FolderDataset.open(d, { channels: 3, cacheDir: join(blocker, 'cache'), resolutions: [8] });
    expect(ds.cacheDir).toBe(fallback);
    expect(statSync(join(fallback, 'r8-c3.json')).isFile()).toBe(true);
    expect((await ds.get(0, 8)).length).toBe(8 * 8 * 3);
    await ds.close();
  });

  it('serves large levels from the cache file', async () => {
    const d = newDir();
    for (const f of ['00040.png', '00041.png']) copyFileSync(join(CELEBA, f), join(d, f));
    const ds = await FolderDataset.open(d, { channels: 3, cacheDir: join(d, 'c'), resolutions: [32], memoryLimitBytes: 100 });
    expect(await ds.get(1, 32)).toEqual(refPool(await raw(join(CELEBA, '00041.png')), 128, 3, 32));
    await ds.close();
    const again = await FolderDataset.open(d, { channels: 3, cacheDir: join(d, 'c'), memoryLimitBytes: 100 });
    expect(await again.get(0, 32)).toEqual(refPool(await raw(join(CELEBA, '00040.png')), 128, 3, 32));
    await again.close();
  });
});
