/**
 * DEC sixel graphics (xterm -ti vt340, foot, mlterm, contour, WezTerm,
 * Windows Terminal): the image scaled to the pixel size of its cells, a
 * palette of up to 256 colours picked by popularity on a 15-bit (5 bits a
 * channel) histogram, each histogram bin mapped to its nearest palette
 * colour, then bands of six pixel rows, one run-length-coded pass per
 * colour present in the band.
 */
import type { RawImage } from '../../image/image.js';
import { resampleRgb } from './resample.js';

export interface Quantized {
  /** RGB triples, 0-255. */
  palette: number[][];
  /** Palette index per pixel. */
  index: Uint8Array;
}

/** Up to `colours` colours for an RGB image: the most common 15-bit bins (their mean colour), every bin to its nearest. */
export function quantize(img: RawImage, colours = 256): Quantized {
  const n = img.width * img.height;
  const bin = new Uint16Array(n);
  const count = new Uint32Array(32768);
  const sum = new Float64Array(32768 * 3);
  for (let i = 0; i < n; i++) {
    const r = img.data[3 * i];
    const g = img.data[3 * i + 1];
    const b = img.data[3 * i + 2];
    const k = ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3);
    bin[i] = k;
    count[k]++;
    sum[3 * k] += r;
    sum[3 * k + 1] += g;
    sum[3 * k + 2] += b;
  }
  const used: number[] = [];
  for (let k = 0; k < 32768; k++) if (count[k] > 0) used.push(k);
  used.sort((a, b) => count[b] - count[a]);
  const chosen = used.slice(0, colours);
  const palette = chosen.map((k) => [0, 1, 2].map((c) => Math.round(sum[3 * k + c] / count[k])));
  const map = new Int16Array(32768).fill(-1);
  chosen.forEach((k, i) => (map[k] = i));
  for (const k of used) {
    if (map[k] >= 0) continue;
    const r = sum[3 * k] / count[k];
    const g = sum[3 * k + 1] / count[k];
    const b = sum[3 * k + 2] / count[k];
    let best = 0;
    let bestD = Infinity;
    palette.forEach((p, i) => {
      const d = (p[0] - r) ** 2 + (p[1] - g) ** 2 + (p[2] - b) ** 2;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    });
    map[k] = best;
  }
  const index = new Uint8Array(n);
  for (let i = 0; i < n; i++) index[i] = map[bin[i]];
  return { palette, index };
}

/** A sixel image of exactly pxWidth x pxHeight pixels (the image scaled), ready to write at the cursor. */
export function sixelImage(img: RawImage, pxWidth: number, pxHeight: number): string {
  const px = resampleRgb(img, pxWidth, pxHeight);
  const W = px.width;
  const H = px.height;
  const { palette, index } = quantize(px);
  // P2=1: pixels not drawn keep the background; "1;1;W;H: square pixels and the size.
  let out = `\x1bP0;1;0q"1;1;${W};${H}`;
  palette.forEach((p, i) => {
    out += `#${i};2;${Math.round((p[0] * 100) / 255)};${Math.round((p[1] * 100) / 255)};${Math.round((p[2] * 100) / 255)}`;
  });
  const bits = new Uint8Array(W);
  for (let top = 0; top < H; top += 6) {
    const present = new Set<number>();
    for (let y = top; y < Math.min(H, top + 6); y++) for (let x = 0; x < W; x++) present.add(index[y * W + x]);
    let first = true;
    for (const c of present) {
      bits.fill(0);
      for (let y = top; y < Math.min(H, top + 6); y++) {
        const bit = 1 << (y - top);
        for (let x = 0; x < W; x++) if (index[y * W + x] === c) bits[x] |= bit;
      }
      out += `${first ? '' : '$'}#${c}`;
      first = false;
      // Run-length: "!n<ch>" for runs longer than 3.
      for (let x = 0; x < W; ) {
        let run = 1;
        while (x + run < W && bits[x + run] === bits[x]) run++;
        const ch = String.fromCharCode(63 + bits[x]);
        out += run > 3 ? `!${run}${ch}` : ch.repeat(run);
        x += run;
      }
    }
    out += '-';
  }
  return out + '\x1b\\';
}
