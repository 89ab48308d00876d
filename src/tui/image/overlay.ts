/**
 * Terminal graphics drawn over an ink frame. ink renders text only; for the
 * kitty, iTerm2 and sixel protocols the app leaves the image cells blank
 * (spaces) and this overlay draws the images there, at absolute positions
 * (the app runs in the alternate screen, its frame starting at the top-left
 * cell): save the cursor, move to each image's cell, write the image,
 * restore the cursor, so ink's idea of where the cursor is stays right.
 *
 * ink rewrites its whole frame on every change (the app renders without
 * incremental mode), and writing text over iTerm2 and sixel images erases
 * them, so `wrap` hands ink a stdout whose frame writes are followed by the
 * overlay, inside ink's synchronized-update bracket (no flicker where
 * terminals support mode 2026). Kitty images live on their own layer: they
 * are sent once per image (by id) and only placed again, which is cheap.
 * Encoded payloads are cached per image and size.
 */
import type { RawImage } from '../../image/image.js';
import type { GraphicsMode } from './detect.js';
import { itermImage } from './iterm.js';
import { kittyDelete, kittyPlace, kittyTransmit } from './kitty.js';
import { sixelImage } from './sixel.js';
import { resampleRgb } from './resample.js';

/** An image to draw: its top-left cell (0-based, in the frame), the cells it spans, and its pixel size (sixel). */
export interface Placement {
  image: RawImage;
  row: number;
  col: number;
  cols: number;
  rows: number;
  pxWidth: number;
  pxHeight: number;
}

export interface TextSink {
  write(s: string): unknown;
}

/** Kitty transfers are capped at this many pixels a side (the terminal scales to the cells anyway). */
const KITTY_MAX = 512;

function samePlacements(a: readonly Placement[], b: readonly Placement[]): boolean {
  return a.length === b.length && a.every((p, i) => p.image === b[i].image && p.row === b[i].row && p.col === b[i].col && p.cols === b[i].cols && p.rows === b[i].rows && p.pxWidth === b[i].pxWidth && p.pxHeight === b[i].pxHeight);
}

export class GraphicsOverlay {
  readonly mode: Exclude<GraphicsMode, 'blocks'>;
  private out: TextSink;
  private placements: readonly Placement[] = [];
  private payloads = new WeakMap<RawImage, Map<string, string>>();
  private kittyIds = new WeakMap<RawImage, number>();
  private nextKittyId = 4200;
  /** Kitty ids sent to the terminal and not deleted. */
  private sent = new Set<number>();
  private drawing = false;

  constructor(mode: Exclude<GraphicsMode, 'blocks'>, out: TextSink) {
    this.mode = mode;
    this.out = out;
  }

  /** Show these images (and no others); drawn at once. */
  set(placements: readonly Placement[]): void {
    if (samePlacements(placements, this.placements)) return;
    this.placements = placements;
    this.draw();
  }

  /** The screen was cleared: kitty images must be sent again. */
  invalidate(): void {
    this.sent.clear();
    this.kittyIds = new WeakMap();
  }

  /** Draw the current images now. */
  draw(): void {
    const seq = this.sequence();
    if (seq) this.write(seq);
  }

  /** Remove every image this overlay put up (kitty; text images go with the text). */
  dispose(): void {
    if (this.mode === 'kitty' && this.sent.size) this.write([...this.sent].map(kittyDelete).join(''));
    this.sent.clear();
    this.placements = [];
  }

  private write(s: string): void {
    this.drawing = true;
    try {
      this.out.write(s);
    } finally {
      this.drawing = false;
    }
  }

  /** The escape sequence drawing the current images ('' when there is nothing to do). */
  sequence(): string {
    if (this.mode === 'kitty') return this.kittySequence();
    if (this.placements.length === 0) return '';
    let s = '\x1b7';
    for (const p of this.placements) s += `\x1b[${p.row + 1};${p.col + 1}H${this.payload(p)}`;
    return s + '\x1b8';
  }

  private kittySequence(): string {
    const live = new Set<number>();
    let s = '';
    let placed = '';
    this.placements.forEach((p, i) => {
      let id = this.kittyIds.get(p.image);
      if (id === undefined) {
        id = this.nextKittyId++;
        this.kittyIds.set(p.image, id);
      }
      live.add(id);
      if (!this.sent.has(id)) {
        const scale = Math.min(1, KITTY_MAX / Math.max(p.image.width, p.image.height));
        const img = scale < 1 ? resampleRgb(p.image, p.image.width * scale, p.image.height * scale) : p.image;
        s += kittyTransmit(img, id);
        this.sent.add(id);
      }
      placed += `\x1b[${p.row + 1};${p.col + 1}H${kittyPlace(id, i + 1, p.cols, p.rows)}`;
    });
    for (const id of [...this.sent]) {
      if (live.has(id)) continue;
      s += kittyDelete(id);
      this.sent.delete(id);
    }
    return s + (placed ? `\x1b7${placed}\x1b8` : '');
  }

  private payload(p: Placement): string {
    let m = this.payloads.get(p.image);
    if (!m) {
      m = new Map();
      this.payloads.set(p.image, m);
    }
    const key = `${p.cols}x${p.rows}:${p.pxWidth}x${p.pxHeight}`;
    let s = m.get(key);
    if (s === undefined) {
      s = this.mode === 'iterm' ? itermImage(p.image, p.cols, p.rows) : sixelImage(p.image, p.pxWidth, p.pxHeight);
      m.set(key, s);
    }
    return s;
  }

  /**
   * A stdout for ink: writes pass through, and each frame (a write with a
   * newline, which ink's frames always have) is followed by the images.
   */
  wrap<T extends NodeJS.WriteStream>(stream: T): T {
    return new Proxy(stream, {
      get: (target, prop) => {
        if (prop === 'write') {
          return (chunk: unknown, ...rest: unknown[]) => {
            const ok = (target.write as (...a: unknown[]) => boolean)(chunk, ...rest);
            if (!this.drawing && typeof chunk === 'string' && chunk.includes('\n')) {
              const seq = this.sequence();
              if (seq) this.write(seq);
            }
            return ok;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}
