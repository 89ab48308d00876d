/**
 * iTerm2's inline images (OSC 1337 File=; also WezTerm, mintty, Konsole):
 * a PNG file in base64, drawn at the cursor into a box of cells.
 */
import type { RawImage } from '../../image/image.js';
import { encodePngSync } from './png.js';

export function itermImage(img: RawImage, cols: number, rows: number): string {
  const png = encodePngSync(img);
  return `\x1b]1337;File=inline=1;size=${png.length};width=${cols};height=${rows};preserveAspectRatio=1:${png.toString('base64')}\x07`;
}
