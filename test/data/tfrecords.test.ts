import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { avgPool2x2 } from '../../src/data/downscale.js';
import { openDataset } from '../../src/data/open.js';
import { isTfrecordFile, resolveTfrecordFiles, TfrecordsDataset } from '../../src/data/tfrecords.js';
import { frameRecord, imageExample } from './tfrecord-writer.js';
import { concatBytes } from '../concat-bytes.js';

const dir = mkdtempSync(join(tmpdir(), 'alae-tfr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Image n at resolution r: HWC, distinct per (n, y, x, c). */
function hwc(n: number, r: number, c = 3): Uint8Array {
  const a = new Uint8Array(r * r * c);
  for (let y = 0; y < r; y++)
    for (let x = 0; x < r; x++) for (let k = 0; k < c; k++) a[(y * r + x) * c + k] = (n * 37 + y * 11 + x * 5 + k * 71 + r) & 255;
  return a;
}

function toChw(img: Uint8Array, r: number, c: number): Uint8Array {
  const out = new Uint8Array(img.length);
  for (let k = 0; k < c; k++) for (let p = 0; p < r * r; p++) out[k * r * r + p] = img[p * c + k];
  return out;
}

/** Write `<dir>/<name>-r%02d.tfrecords.%03d` for log2 res 2..3, `parts` parts of `per` images. */
function writeSet(name: string, parts: number, per: number, bad: { res: number; part: number; k: number } | null = null): void {
  for (const lg of [2, 3]) {
    const r = 1 << lg;
    for (let p = 0; p < parts; p++) {
      const recs: Uint8Array[] = [];
      for (let k = 0; k < per; k++) {
        const n = p * per + k;
        const ex = imageExample(toChw(hwc(n, r), r, 3), 3, r, r, k % 2 === 0);
        recs.push(frameRecord(ex, { corruptDataCrc: !!bad && bad.res === r && bad.part === p && bad.k === k }));
      }
      const file = join(dir, `${name}-r${String(lg).padStart(2, '0')}.tfrecords.${String(p).padStart(3, '0')}`);
      writeFileSync(file, concatBytes(recs));
    }
  }
}

describe('tfrecords', () => {
  it('round-trips the reference layout (CHW data + shape) across parts and levels', async () => {
    writeSet('rt', 2, 3);
    const ds = await TfrecordsDataset.open(join(dir, 'rt-r%02d.tfrecords.%03d'), { channels: 3 });
    expect(ds.size).toBe(6);
    expect(ds.levels).toEqual([4, 8]);
    expect(ds.maxResolution).toBe(8);
    expect(ds.skipped).toEqual([]);
    for (let n = 0; n < 6; n++) {
      expect(await ds.get(n, 8)).toEqual(hwc(n, 8));
      expect(await ds.get(n, 4)).toEqual(hwc(n, 4));
      // levels without files are pooled from the nearest higher one
      expect(await ds.get(n, 2)).toEqual(avgPool2x2(hwc(n, 4), 4, 3));
    }
    await expect(ds.get(0, 16)).rejects.toThrow(/not available/);
    await expect(ds.get(0, 3)).rejects.toThrow(/not available/);
    const gray = await TfrecordsDataset.open(join(dir, 'rt-r%02d.tfrecords.%03d'), { channels: 1 });
    const g = await gray.get(1, 4);
    const c = hwc(1, 4);
    expect(g[5]).toBe((19595 * c[15] + 38470 * c[16] + 7471 * c[17] + 32768) >>> 16);
    await ds.close();
    await gray.close();
  });

  it('a glob and placeholders find the same files; padding must match', async () => {
    const a = await resolveTfrecordFiles(join(dir, 'rt-r%02d.tfrecords.%03d'));
    const b = await resolveTfrecordFiles(join(dir, 'rt-r*.tfrecords.*'));
    expect(a.map((f) => f.slice(dir.length + 1))).toEqual([
      'rt-r02.tfrecords.000',
      'rt-r02.tfrecords.001',
      'rt-r03.tfrecords.000',
      'rt-r03.tfrecords.001',
    ]);
    expect(b).toEqual(a);
    const one = await resolveTfrecordFiles(join(dir, 'rt-r03.tfrecords.00?'));
    expect(one.length).toBe(2);
    await expect(resolveTfrecordFiles(join(dir, 'rt-r%d.tfrecords.%d'))).rejects.toThrow(/no tfrecords files match/);
    await expect(resolveTfrecordFiles(join(dir, '*', 'x.tfrecords'))).rejects.toThrow(/only allowed in the file name/);
    // a single-resolution glob works on its own; lower levels are pooled
    const ds = await openDataset(join(dir, 'rt-r03.tfrecords.*'), { channels: 3 });
    expect(ds.size).toBe(6);
    expect(await ds.get(4, 4)).toEqual(avgPool2x2(hwc(4, 8), 8, 3));
    await ds.close();
  });

  it('skips a record with a bad CRC, names it, and keeps the others aligned across levels', async () => {
    writeSet('bad', 2, 3, { res: 8, part: 1, k: 1 });
    const ds = await TfrecordsDataset.open(join(dir, 'bad-r%02d.tfrecords.%03d'), { channels: 3 });
    expect(ds.size).toBe(5);
    expect(ds.skipped.length).toBe(1);
    expect(ds.skipped[0].file).toBe(join(dir, 'bad-r03.tfrecords.001') + '#1');
    expect(ds.skipped[0].reason).toMatch(/CRC/);
    const expected = [0, 1, 2, 3, 5];
    for (let i = 0; i < 5; i++) {
      expect(await ds.get(i, 8)).toEqual(hwc(expected[i], 8));
      expect(await ds.get(i, 4)).toEqual(hwc(expected[i], 4));
    }
    await ds.close();
  });

  it('truncated files and bad length CRCs end the file cleanly', async () => {
    const recs = [0, 1, 2].map((n) => frameRecord(imageExample(toChw(hwc(n, 4), 4, 3), 3, 4, 4)));
    const whole = concatBytes(recs);
    writeFileSync(join(dir, 'trunc.tfrecords'), whole.subarray(0, whole.length - 10));
    const t = await TfrecordsDataset.open(join(dir, 'trunc.tfrecords'), { channels: 3 });
    expect(t.size).toBe(2);
    expect(t.skipped[0].file).toBe(join(dir, 'trunc.tfrecords') + '#2');
    expect(t.skipped[0].reason).toMatch(/truncated/);
    expect(await t.get(1, 4)).toEqual(hwc(1, 4));

    writeFileSync(join(dir, 'trunc2.tfrecords'), whole.subarray(0, recs[0].length + 5));
    const t2 = await TfrecordsDataset.open(join(dir, 'trunc2.tfrecords'), { channels: 3 });
    expect(t2.size).toBe(1);
    expect(t2.skipped[0].reason).toMatch(/header/);

    const badLen = frameRecord(imageExample(toChw(hwc(1, 4), 4, 3), 3, 4, 4), { corruptLengthCrc: true });
    writeFileSync(join(dir, 'badlen.tfrecords'), concatBytes([recs[0], badLen, recs[2]]));
    const t3 = await TfrecordsDataset.open(join(dir, 'badlen.tfrecords'), { channels: 3 });
    expect(t3.size).toBe(1);
    expect(t3.skipped[0].file).toMatch(/#1$/);
    expect(t3.skipped[0].reason).toMatch(/length CRC/);
    await Promise.all([t.close(), t2.close(), t3.close()]);
  });

  it('reads pixels from disk when the files exceed the memory limit', async () => {
    const ds = await TfrecordsDataset.open(join(dir, 'rt-r%02d.tfrecords.%03d'), { channels: 3, memoryLimitBytes: 10 });
    expect(await ds.get(3, 8)).toEqual(hwc(3, 8));
    expect(await ds.get(5, 2)).toEqual(avgPool2x2(hwc(5, 4), 4, 3));
    await ds.close();
  });

  it('rejects unconvertible channels, empty sets and files that are not tfrecords', async () => {
    const rgba = frameRecord(imageExample(new Uint8Array(4 * 4 * 4), 4, 4, 4));
    writeFileSync(join(dir, 'rgba.tfrecords'), rgba);
    await expect(TfrecordsDataset.open(join(dir, 'rgba.tfrecords'), { channels: 3 })).rejects.toThrow(/4 channels and cannot be converted/);
    writeFileSync(join(dir, 'junk.tfrecords'), 'this is not a tfrecord file at all');
    await expect(openDataset(join(dir, 'junk.tfrecords'), { channels: 3 })).rejects.toThrow(/no readable images/);
    writeFileSync(join(dir, 'junk.bin'), 'this is not a tfrecord file at all');
    expect(await isTfrecordFile(join(dir, 'junk.bin'))).toBe(false);
    expect(await isTfrecordFile(join(dir, 'rgba.tfrecords'))).toBe(true);
    await expect(openDataset(join(dir, 'junk.bin'), { channels: 3 })).rejects.toThrow(/junk\.bin.*not an image folder and not a TFRecord/);
    // a tfrecords file without the .tfrecords name is recognised by its header
    writeFileSync(join(dir, 'plain.dat'), frameRecord(imageExample(toChw(hwc(9, 4), 4, 3), 3, 4, 4)));
    const ds = await openDataset(join(dir, 'plain.dat'), { channels: 3 });
    expect(await ds.get(0, 4)).toEqual(hwc(9, 4));
    await ds.close();
  });
});
