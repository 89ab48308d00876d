import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { FolderDataset } from '../../src/data/folder.js';
import { BatchLoader } from '../../src/data/loader.js';
import { encoderInput, extractFaces } from '../../src/face/faces.js';
import { centerSquare, convertChannels, imagesToFloat, toFloatImage, toRgb, withChannels, type RawImage } from '../../src/image/image.js';
import { Rng } from '../../src/util/random.js';

const root = mkdtempSync(join(tmpdir(), 'alae-image-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function noise(width: number, height: number, channels: number, seed: number): RawImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(0, 255);
  return { data, width, height, channels };
}

describe('pixels', () => {
  it('centre square takes the middle of the long side', () => {
    const w = 7;
    const h = 4;
    const data = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = x * 10 + y;
    const sq = centerSquare({ data, width: w, height: h, channels: 1 });
    expect([sq.width, sq.height]).toEqual([4, 4]);
    expect([...sq.data.subarray(0, 4)]).toEqual([10, 20, 30, 40]);
    const tall = centerSquare({ data: new Uint8Array(2 * 5).map((_, i) => i), width: 2, height: 5, channels: 1 });
    expect([...tall.data]).toEqual([2, 3, 4, 5]);
  });

  it('channels: gray repeated, alpha dropped, PIL luma for gray', () => {
    expect([...convertChannels(Uint8Array.from([5, 9]), 1, 3)]).toEqual([5, 5, 5, 9, 9, 9]);
    expect([...convertChannels(Uint8Array.from([255, 255, 255, 255, 0, 0]), 3, 1)]).toEqual([255, 76]);
    expect(() => convertChannels(new Uint8Array(4), 4, 3)).toThrow(/cannot convert/);
    const one = (data: number[], channels: number): RawImage => ({ data: Uint8Array.from(data), width: 1, height: 1, channels });
    expect([...toRgb(one([7, 200], 2)).data]).toEqual([7, 7, 7]);
    expect([...toRgb(one([1, 2, 3, 4], 4)).data]).toEqual([1, 2, 3]);
    expect([...withChannels(one([255, 0, 0, 9], 4), 1).data]).toEqual([76]);
  });

  it('the model scale: v / 127.5 - 1, mirrored on request', () => {
    const img = noise(3, 3, 2, 1);
    const out = new Float32Array(2 + 18);
    toFloatImage(img.data, 3, 2, false, out, 2);
    for (let i = 0; i < 18; i++) expect(out[2 + i]).toBe(Math.fround(img.data[i] / 127.5 - 1));
    const flipped = new Float32Array(18);
    toFloatImage(img.data, 3, 2, true, flipped, 0);
    expect(flipped[0]).toBe(out[2 + 4]); // (y 0, x 0) takes (y 0, x 2)
    expect(flipped[1]).toBe(out[2 + 5]);
    expect(imagesToFloat([img], 3, 2)).toEqual(out.subarray(2));
  });
});

describe('one image path', () => {
  it('a file gives the same encoder input through the training data and through the jobs', async () => {
    const size = 32;
    const dir = join(root, 'same');
    mkdirSync(dir);
    // RGBA with varying alpha, wider than tall (centre crop); gray + alpha; an EXIF-rotated JPEG.
    const rgba = noise(40, 32, 4, 2);
    await sharp(rgba.data, { raw: { width: 40, height: 32, channels: 4 } }).png().toFile(join(dir, 'a-rgba.png'));
    const ga = noise(32, 32, 2, 3);
    await sharp(ga.data, { raw: { width: 32, height: 32, channels: 2 } }).png().toFile(join(dir, 'b-gray-alpha.png'));
    await sharp(noise(32, 48, 3, 4).data, { raw: { width: 32, height: 48, channels: 3 } }).jpeg().withMetadata({ orientation: 6 }).toFile(join(dir, 'c-rotated.jpg'));
    const files = ['a-rgba.png', 'b-gray-alpha.png', 'c-rotated.jpg'];

    for (const channels of [3, 1]) {
      const ds = await FolderDataset.open(dir, { channels, cacheDir: join(root, `cache-${channels}`) });
      expect(ds.files).toEqual(files);
      for (let i = 0; i < files.length; i++) {
        const loader = new BatchLoader(ds, { batchSize: 1, resolution: size, seed: 0, mirror: false, indices: [i] });
        const train = (await loader.next()).data;
        loader.close();
        const crops = await extractFaces(join(dir, files[i]), null, { size, channels, align: 'none' });
        const job = encoderInput(crops, size, channels);
        expect(job.length, files[i]).toBe(size * size * channels);
        expect(Buffer.from(job.buffer).equals(Buffer.from(train.buffer)), `${files[i]}, ${channels} channel(s)`).toBe(true);
      }
      await ds.close();
    }
  });
});
