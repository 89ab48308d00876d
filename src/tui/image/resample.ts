/**
 * Pixel helpers for showing images in a terminal: area-average resampling
 * to an exact size (good for the large shrink factors a terminal needs),
 * and fitting an image into a box of character cells.
 */
import { toRgb, type RawImage } from '../../image/image.js';

/**
 * RGB image of exactly width x height: each output pixel is the
 * area-weighted mean of the source pixels it covers (box filter), which is
 * what a shrink wants; enlarging degrades to nearest neighbour.
 */
export function resampleRgb(src: RawImage, width: number, height: number): RawImage {
  const img = toRgb(src);
  const W = Math.max(1, Math.round(width));
  const H = Math.max(1, Math.round(height));
  if (img.width === W && img.height === H) return img;
  const out = new Uint8Array(W * H * 3);
  const sx = img.width / W;
  const sy = img.height / H;
  // Per output column: the source columns it covers and their weights.
  const xs: { from: number; to: number; w: Float64Array }[] = [];
  for (let x = 0; x < W; x++) {
    const a = x * sx;
    const b = Math.min(img.width, (x + 1) * sx);
    const from = Math.min(img.width - 1, Math.floor(a));
    const to = Math.max(from + 1, Math.ceil(b));
    const w = new Float64Array(to - from);
    for (let i = from; i < to; i++) w[i - from] = Math.max(0, Math.min(b, i + 1) - Math.max(a, i));
    xs.push({ from, to, w });
  }
  const row = new Float64Array(W * 3);
  for (let y = 0; y < H; y++) {
    const a = y * sy;
    const b = Math.min(img.height, (y + 1) * sy);
    const fromY = Math.min(img.height - 1, Math.floor(a));
    const toY = Math.max(fromY + 1, Math.ceil(b));
    row.fill(0);
    let total = 0;
    for (let j = fromY; j < toY; j++) {
      const wy = Math.max(0, Math.min(b, j + 1) - Math.max(a, j));
      if (wy === 0) continue;
      total += wy;
      const base = j * img.width * 3;
      for (let x = 0; x < W; x++) {
        const { from, to, w } = xs[x];
        let r = 0;
        let g = 0;
        let bl = 0;
        let sw = 0;
        for (let i = from; i < to; i++) {
          const wx = w[i - from];
          const p = base + i * 3;
          r += img.data[p] * wx;
          g += img.data[p + 1] * wx;
          bl += img.data[p + 2] * wx;
          sw += wx;
        }
        if (sw > 0) {
          row[x * 3] += (r / sw) * wy;
          row[x * 3 + 1] += (g / sw) * wy;
          row[x * 3 + 2] += (bl / sw) * wy;
        }
      }
    }
    const o = y * W * 3;
    for (let k = 0; k < W * 3; k++) out[o + k] = total > 0 ? Math.min(255, Math.max(0, Math.round(row[k] / total))) : 0;
  }
  return { data: out, width: W, height: H, channels: 3 };
}

/** Size of one character cell in pixels (or in "block pixels": 1 x 2 for half-blocks). */
export interface CellSize {
  width: number;
  height: number;
}

/** Half-block cells: one column, two pixel rows. */
export const BLOCK_CELL: CellSize = { width: 1, height: 2 };

export interface Fit {
  /** Cells the image occupies. */
  cols: number;
  rows: number;
  /** Pixels to draw (the image scaled, aspect kept). */
  pxWidth: number;
  pxHeight: number;
}

/**
 * The largest size of an image (aspect kept) that fits a box of
 * maxCols x maxRows cells of the given pixel size, and the cells it takes.
 */
export function fitImage(imgWidth: number, imgHeight: number, maxCols: number, maxRows: number, cell: CellSize = BLOCK_CELL): Fit {
  if (maxCols < 1 || maxRows < 1 || imgWidth < 1 || imgHeight < 1) return { cols: 0, rows: 0, pxWidth: 0, pxHeight: 0 };
  const boxW = maxCols * cell.width;
  const boxH = maxRows * cell.height;
  const scale = Math.min(boxW / imgWidth, boxH / imgHeight);
  const pxWidth = Math.max(1, Math.min(boxW, Math.floor(imgWidth * scale)));
  const pxHeight = Math.max(1, Math.min(boxH, Math.floor(imgHeight * scale)));
  return {
    cols: Math.min(maxCols, Math.ceil(pxWidth / cell.width)),
    rows: Math.min(maxRows, Math.ceil(pxHeight / cell.height)),
    pxWidth,
    pxHeight,
  };
}
