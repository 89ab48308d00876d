/**
 * The kitty terminal graphics protocol (kitty, Ghostty, WezTerm, Konsole):
 * an image is sent once under a numeric id (raw RGB, base64, in chunks of
 * at most 4096 bytes) and then placed at the cursor as often as wanted,
 * scaled by the terminal to a box of cells. Every command carries q=2 so
 * the terminal sends no replies (they would arrive as key presses), and
 * placements carry C=1 so the cursor does not move.
 */
import { toRgb, type RawImage } from '../../image/image.js';

const APC = '\x1b_G';
const ST = '\x1b\\';
const CHUNK = 4096;

/** Transmit (not display) an image under `id`. */
export function kittyTransmit(img: RawImage, id: number): string {
  const rgb = toRgb(img);
  const b64 = Buffer.from(rgb.data.buffer, rgb.data.byteOffset, rgb.data.length).toString('base64');
  const parts: string[] = [];
  for (let off = 0; off < b64.length; off += CHUNK) parts.push(b64.slice(off, off + CHUNK));
  if (parts.length === 0) parts.push('');
  const head = `a=t,f=24,s=${rgb.width},v=${rgb.height},i=${id},q=2,`;
  return parts.map((part, i) => `${APC}${i === 0 ? head : ''}m=${i < parts.length - 1 ? 1 : 0};${part}${ST}`).join('');
}

/** Place image `id` at the cursor, scaled into cols x rows cells (placement `placement` replaces an earlier one of the same number). */
export function kittyPlace(id: number, placement: number, cols: number, rows: number): string {
  return `${APC}a=p,i=${id},p=${placement},c=${cols},r=${rows},C=1,q=2${ST}`;
}

/** Delete image `id`: its placements and its data. */
export function kittyDelete(id: number): string {
  return `${APC}a=d,d=I,i=${id},q=2${ST}`;
}
