/**
 * Terminal graphics next to an ink frame. ink renders text only; for the
 * kitty, iTerm2 and sixel protocols the app leaves an image's cells blank
 * and says where the image goes (`stage`, during render); the Screen
 * (src/tui/app/screen.ts), after writing each frame's changed lines, asks
 * for the escapes that bring the images up to date (`update`): images
 * that are new or moved are drawn, images on rows whose text was just
 * rewritten are drawn again (writing text over iTerm2 and sixel images
 * erases them), images that went away are erased (their cells blanked,
 * kitty placements deleted). Each image is drawn with the cursor saved
 * and restored, at its absolute cell (the app runs in the alternate
 * screen, its frame starting at the top-left cell).
 *
 * Kitty images live on their own layer: each image is sent once under an
 * id and then only placed, which is cheap. iTerm2 and sixel payloads are
 * encoded once per image and size and cached.
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

/** Where the app says images go (the Screen's overlay, or a recorder in tests). */
export interface PlacementSink {
  stage(placements: readonly Placement[]): void;
}

/** Kitty transfers are capped at this many pixels a side (the terminal scales to the cells anyway). */
const KITTY_MAX = 512;

function samePlacement(a: Placement, b: Placement): boolean {
  return a.image === b.image && a.row === b.row && a.col === b.col && a.cols === b.cols && a.rows === b.rows && a.pxWidth === b.pxWidth && a.pxHeight === b.pxHeight;
}

function sameCells(a: Placement, b: Placement): boolean {
  return a.row === b.row && a.col === b.col && a.cols === b.cols && a.rows === b.rows && a.pxWidth === b.pxWidth && a.pxHeight === b.pxHeight;
}

function covers(p: Placement, rows: ReadonlySet<number>): boolean {
  for (let r = p.row; r < p.row + p.rows; r++) if (rows.has(r)) return true;
  return false;
}

export class GraphicsOverlay implements PlacementSink {
  readonly mode: Exclude<GraphicsMode, 'blocks'>;
  private staged: readonly Placement[] = [];
  private drawn: readonly Placement[] = [];
  private payloads = new WeakMap<RawImage, Map<string, string>>();
  private kittyIds = new WeakMap<RawImage, number>();
  private nextKittyId = 4200;
  /** Kitty ids whose data the terminal holds. */
  private sent = new Set<number>();

  constructor(mode: Exclude<GraphicsMode, 'blocks'>) {
    this.mode = mode;
  }

  /** The images the frame being rendered shows (and no others). */
  stage(placements: readonly Placement[]): void {
    this.staged = placements;
  }

  get current(): readonly Placement[] {
    return this.staged;
  }

  /**
   * Before the frame's lines are written: blank the cells of drawn images
   * that are gone or moved (iTerm2, sixel), and the rows that must be
   * rewritten for it. Kitty deletes placements instead (in `update`).
   */
  eraseStale(): { seq: string; rows: number[] } {
    if (this.mode === 'kitty') return { seq: '', rows: [] };
    let seq = '';
    const rows: number[] = [];
    for (const d of this.drawn) {
      // Still shown, or a new image in exactly its cells (drawing it covers the old one): nothing to erase.
      if (this.staged.some((s) => samePlacement(s, d) || sameCells(s, d))) continue;
      for (let r = d.row; r < d.row + d.rows; r++) {
        seq += `\x1b[${r + 1};${d.col + 1}H\x1b[${d.cols}X`;
        rows.push(r);
      }
    }
    return { seq: seq ? `\x1b7${seq}\x1b8` : '', rows };
  }

  /** After the frame's lines are written (`rewritten`: their indices): the escapes that bring the images up to date. */
  update(rewritten: ReadonlySet<number>): string {
    const s = this.mode === 'kitty' ? this.kittyUpdate(rewritten) : this.textUpdate(rewritten);
    this.drawn = this.staged;
    return s;
  }

  /** The screen was cleared: nothing is drawn any more (kitty image data stays with the terminal). */
  invalidate(): string {
    this.drawn = [];
    return this.mode === 'kitty' ? '\x1b_Ga=d,d=a,q=2\x1b\\' : '';
  }

  /** Escapes removing every image this overlay put up (kitty: placements and data). */
  dispose(): string {
    const s = this.mode === 'kitty' ? [...this.sent].map(kittyDelete).join('') : '';
    this.sent.clear();
    this.staged = [];
    this.drawn = [];
    return s;
  }

  private textUpdate(rewritten: ReadonlySet<number>): string {
    let s = '';
    for (const p of this.staged) {
      if (this.drawn.some((d) => samePlacement(d, p)) && !covers(p, rewritten)) continue;
      s += `\x1b[${p.row + 1};${p.col + 1}H${this.payload(p)}`;
    }
    return s ? `\x1b7${s}\x1b8` : '';
  }

  private kittyUpdate(rewritten: ReadonlySet<number>): string {
    const same = this.staged.length === this.drawn.length && this.staged.every((p, i) => samePlacement(p, this.drawn[i]));
    if (same && !this.staged.some((p) => covers(p, rewritten))) return '';
    let s = '';
    // Placements are (image, slot) pairs: clear the old ones, then place anew.
    for (const d of this.drawn) {
      const id = this.kittyIds.get(d.image);
      if (id !== undefined) s += `\x1b_Ga=d,d=i,i=${id},q=2\x1b\\`;
    }
    const live = new Set<number>();
    let placed = '';
    this.staged.forEach((p, i) => {
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
    // Images no longer shown: free their data too.
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
}
