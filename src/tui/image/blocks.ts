/**
 * Images as text: each character cell shows two pixels stacked, the upper
 * as the foreground colour of '▀' (U+2580, upper half block) and the lower
 * as the background colour. 24-bit colour SGR (38;2 / 48;2) by default,
 * xterm 256-colour codes for terminals without true colour. Works in any
 * terminal (and in tmux), so it is the fallback for every other protocol.
 */
import type { RawImage } from '../../image/image.js';
import { resampleRgb } from './resample.js';

export const UPPER_HALF = '\u2580';
const RESET = '\x1b[0m';

export interface BlockOptions {
  /** 24-bit colour (default) or the xterm 256-colour palette. */
  trueColor?: boolean;
}

/** The xterm 256-colour index nearest to an RGB colour (6x6x6 cube or the gray ramp). */
export function xterm256(r: number, g: number, b: number): number {
  const level = (v: number) => (v < 48 ? 0 : v < 115 ? 1 : Math.min(5, Math.floor((v - 35) / 40)));
  const steps = [0, 95, 135, 175, 215, 255];
  const cr = level(r);
  const cg = level(g);
  const cb = level(b);
  const cube = 16 + 36 * cr + 6 * cg + cb;
  const dCube = (steps[cr] - r) ** 2 + (steps[cg] - g) ** 2 + (steps[cb] - b) ** 2;
  const mean = (r + g + b) / 3;
  const gi = Math.max(0, Math.min(23, Math.round((mean - 8) / 10)));
  const gv = 8 + 10 * gi;
  const dGray = (gv - r) ** 2 + (gv - g) ** 2 + (gv - b) ** 2;
  return dGray < dCube ? 232 + gi : cube;
}

function sgr(fg: boolean, r: number, g: number, b: number, trueColor: boolean): string {
  if (trueColor) return `${fg ? 38 : 48};2;${r};${g};${b}`;
  return `${fg ? 38 : 48};5;${xterm256(r, g, b)}`;
}

/**
 * The image drawn into `cols` x `rows` cells: scaled to cols x (2 * rows)
 * pixels, or to pxWidth x pxHeight (centred horizontally, at the top)
 * when given. One string per row, each exactly `cols` cells wide and
 * ending in a colour reset.
 */
export function renderBlocks(img: RawImage, cols: number, rows: number, opts: BlockOptions & { pxWidth?: number; pxHeight?: number } = {}): string[] {
  if (cols < 1 || rows < 1) return [];
  const trueColor = opts.trueColor ?? true;
  const pw = Math.min(cols, opts.pxWidth ?? cols);
  const ph = Math.min(2 * rows, opts.pxHeight ?? 2 * rows);
  const px = resampleRgb(img, pw, ph);
  const left = Math.floor((cols - pw) / 2);
  const lines: string[] = [];
  for (let y = 0; y < rows; y++) {
    let line = '';
    let lastFg = '';
    let lastBg = '';
    const put = (fg: string, bg: string, ch: string) => {
      const codes: string[] = [];
      if (fg !== lastFg) codes.push(fg === '' ? '39' : fg);
      if (bg !== lastBg) codes.push(bg === '' ? '49' : bg);
      if (codes.length) line += `\x1b[${codes.join(';')}m`;
      line += ch;
      lastFg = fg;
      lastBg = bg;
    };
    for (let x = 0; x < cols; x++) {
      const ix = x - left;
      const top = 2 * y;
      if (ix < 0 || ix >= pw || top >= ph) {
        put('', '', ' ');
        continue;
      }
      const t = (top * pw + ix) * 3;
      const fg = sgr(true, px.data[t], px.data[t + 1], px.data[t + 2], trueColor);
      if (top + 1 < ph) {
        const bIdx = ((top + 1) * pw + ix) * 3;
        put(fg, sgr(false, px.data[bIdx], px.data[bIdx + 1], px.data[bIdx + 2], trueColor), UPPER_HALF);
      } else {
        put(fg, '', UPPER_HALF);
      }
    }
    lines.push(line + RESET);
  }
  return lines;
}
