/**
 * What reaches the terminal. ink (in its standard mode) writes each frame
 * whole, preceded by the codes that erase the previous one; the Screen is
 * the stdout ink writes to, and turns that into:
 *   - only the lines that changed, each written in place at its absolute
 *     row (the app runs in the alternate screen, so the frame starts at
 *     the top-left cell): a spinner tick rewrites one line, not the
 *     screen, and nothing flickers;
 *   - half-block image rows swapped in for their placeholders
 *     (src/tui/image/placeholder.ts), so ink never parses colour codes;
 *   - the graphics overlay (kitty, iTerm2, sixel) brought up to date after
 *     the lines are written;
 *   - a clean redraw after a resize (`invalidate`).
 * Other writes (cursor visibility, synchronized-update brackets) pass
 * through.
 */
import { expandPlaceholders } from '../image/placeholder.js';
import type { GraphicsOverlay } from '../image/overlay.js';

/** ink's eraseLines(n): n x (erase line, up one) then column 1; absent before the first frame. */
const ERASE_PREFIX = /^(?:\x1b\[2K(?:\x1b\[1A)?)*(?:\x1b\[G)?/;

export interface TextOut {
  write(s: string): unknown;
}

export class Screen {
  private prev: string[] = [];
  private readonly out: TextOut;
  readonly overlay: GraphicsOverlay | undefined;

  constructor(out: TextOut, overlay?: GraphicsOverlay) {
    this.out = out;
    this.overlay = overlay;
  }

  /** Take one write meant for the terminal. */
  write(chunk: string): void {
    const erase = ERASE_PREFIX.exec(chunk)?.[0] ?? '';
    const rest = chunk.slice(erase.length);
    if (rest.includes('\n')) return this.paint(rest);
    if (erase && rest === '') return; // ink erasing its frame: the next frame overwrites it in place
    this.out.write(chunk);
  }

  /** Draw a frame: the changed lines, then the images. */
  paint(frame: string): void {
    const lines = frame.split('\n');
    if (lines.at(-1) === '') lines.pop();
    const stale = this.overlay?.eraseStale() ?? { seq: '', rows: [] };
    const force = new Set(stale.rows);
    const rewritten = new Set<number>();
    let out = stale.seq;
    const n = Math.max(lines.length, this.prev.length);
    for (let i = 0; i < n; i++) {
      const line = lines[i] ?? '';
      if (line === this.prev[i] && !force.has(i)) continue;
      rewritten.add(i);
      out += `\x1b[${i + 1};1H${expandPlaceholders(line)}\x1b[0m\x1b[K`;
    }
    this.prev = lines;
    if (this.overlay) out += this.overlay.update(rewritten);
    if (out) this.out.write(out);
  }

  /** The screen is to be redrawn from scratch (after a resize): clear it and forget what it showed. */
  invalidate(): void {
    this.prev = [];
    this.out.write(`${this.overlay?.invalidate() ?? ''}\x1b[H\x1b[2J`);
  }

  /** A stdout for ink: its writes come here; everything else is the real stream's. */
  wrap<T extends NodeJS.WriteStream>(stream: T): T {
    return new Proxy(stream, {
      get: (target, prop) => {
        if (prop === 'write') {
          return (chunk: unknown, ...rest: unknown[]) => {
            if (typeof chunk !== 'string') return (target.write as (...a: unknown[]) => boolean)(chunk, ...rest);
            this.write(chunk);
            (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
            return true;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}
