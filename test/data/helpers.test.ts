import { describe, expect, it } from 'vitest';
import { crc32c, maskCrc } from '../../src/data/crc32c.js';
import { parseExample } from '../../src/data/example.js';
import { avgPool2x2, blockMean, boxDownscale } from '../../src/data/downscale.js';
import { chwToHwc } from '../../src/data/tfrecords.js';
import { Rng } from '../../src/util/random.js';
import { encodeExample } from './tfrecord-writer.js';

function randomImage(size: number, channels: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const a = new Uint8Array(size * size * channels);
  for (let i = 0; i < a.length; i++) a[i] = rng.int(0, 255);
  return a;
}

/** Reference: torch-style avg_pool2d(2,2) on floats, then clamp and truncate to uint8, per level. */
function refChain(src: Uint8Array, size: number, ch: number, target: number): Uint8Array {
  let img = Array.from(src);
  let s = size;
  while (s > target) {
    const h = s / 2;
    const next: number[] = [];
    for (let y = 0; y < h; y++)
      for (let x = 0; x < h; x++)
        for (let c = 0; c < ch; c++) {
          const at = (yy: number, xx: number) => img[(yy * s + xx) * ch + c];
          const mean = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
          next.push(Math.trunc(Math.min(255, Math.max(0, mean))));
        }
    img = next;
    s = h;
  }
  return Uint8Array.from(img);
}

describe('dataset pixel helpers', () => {
  it('2x2 pooling truncates like avg_pool2d(...).to(uint8)', () => {
    const img = Uint8Array.from([1, 2, 10, 10, 3, 3, 10, 11, 255, 255, 0, 0, 255, 254, 0, 1]);
    expect([...avgPool2x2(img, 4, 1)]).toEqual([2, 10, 254, 0]);
  });

  it('box downscale equals the level-by-level reference on a synthetic image', () => {
    for (const ch of [1, 3]) {
      const img = randomImage(64, ch, 7 + ch);
      for (const target of [64, 32, 8, 4, 1]) {
        expect(boxDownscale(img, 64, ch, target)).toEqual(refChain(img, 64, ch, target));
      }
    }
  });

  it('non power-of-two block mean', () => {
    const img = randomImage(12, 3, 3);
    const out = blockMean(img, 12, 3, 3);
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 4; x++)
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) s += img[((3 * y + dy) * 12 + 3 * x + dx) * 3 + c];
          expect(out[(y * 4 + x) * 3 + c]).toBe(Math.floor(s / 9));
        }
    expect(boxDownscale(img, 12, 3, 4)).toEqual(out);
    expect(() => boxDownscale(img, 12, 3, 5)).toThrow(/multiple/);
  });

  it('CHW to HWC', () => {
    expect([...chwToHwc(Uint8Array.from([1, 2, 3, 4, 5, 6]), 3, 1, 2)]).toEqual([1, 3, 5, 2, 4, 6]);
  });

  it('crc32c matches the standard check value and the mask formula', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    const long = randomImage(37, 3, 1); // odd length exercises the 8-byte and tail loops
    let c = 0xffffffff;
    for (const b of long) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    expect(crc32c(long)).toBe((c ^ 0xffffffff) >>> 0);
    const crc = 0x12345678;
    expect(maskCrc(crc)).toBe((((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0);
  });

  it('parses Examples with packed and unpacked lists', () => {
    const ex = encodeExample({
      shape: { int64: [3, 300, 2], packed: false },
      big: { int64: [2 ** 40 + 3] },
      f: { float: [1.5, -2], packed: false },
      g: { float: [0.25] },
      data: { bytes: [Uint8Array.from([9, 8, 7])] },
    });
    const m = parseExample(ex);
    expect(m.get('shape')).toEqual({ kind: 'int64', values: [3, 300, 2] });
    expect(m.get('big')).toEqual({ kind: 'int64', values: [2 ** 40 + 3] });
    expect(m.get('f')).toEqual({ kind: 'float', values: [1.5, -2] });
    expect(m.get('g')).toEqual({ kind: 'float', values: [0.25] });
    const d = m.get('data');
    expect(d?.kind).toBe('bytes');
    if (d?.kind === 'bytes') expect([...ex.subarray(d.values[0].offset, d.values[0].offset + d.values[0].length)]).toEqual([9, 8, 7]);
  });
});
