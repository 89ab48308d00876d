/**
 * Images in the terminal: resampling and fitting, half-blocks, the kitty /
 * iTerm2 / sixel encoders, the PNG encoder, detection from the
 * environment, and the overlay that draws over ink's frames.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { RawImage } from '../../src/image/image.js';
import { fitImage, resampleRgb, BLOCK_CELL } from '../../src/tui/image/resample.js';
import { renderBlocks, xterm256, UPPER_HALF } from '../../src/tui/image/blocks.js';
import { encodePngSync } from '../../src/tui/image/png.js';
import { kittyDelete, kittyPlace, kittyTransmit } from '../../src/tui/image/kitty.js';
import { itermImage } from '../../src/tui/image/iterm.js';
import { quantize, sixelImage } from '../../src/tui/image/sixel.js';
import { detectGraphics } from '../../src/tui/image/detect.js';
import { GraphicsOverlay } from '../../src/tui/image/overlay.js';
import { expandPlaceholders, placeholderFor, safeText } from '../../src/tui/image/placeholder.js';
import { Screen } from '../../src/tui/app/screen.js';

/** A w x h RGB image: left half red, right half blue (or a gradient). */
function halves(w: number, h: number): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(x < w / 2 ? [255, 0, 0] : [0, 0, 255], (y * w + x) * 3);
  return { data, width: w, height: h, channels: 3 };
}

function gradient(w: number, h: number): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([(x * 255) / (w - 1), (y * 255) / (h - 1), 128], (y * w + x) * 3);
  return { data, width: w, height: h, channels: 3 };
}

describe('resampling and fitting', () => {
  it('box-filters down and keeps colours; gray becomes RGB', () => {
    const small = resampleRgb(halves(64, 64), 4, 2);
    expect([small.width, small.height, small.channels]).toEqual([4, 2, 3]);
    expect([...small.data.subarray(0, 3)]).toEqual([255, 0, 0]);
    expect([...small.data.subarray(9, 12)]).toEqual([0, 0, 255]);
    // An odd split averages: 3 columns from 2 (red | blue) -> the middle is purple.
    const odd = resampleRgb(halves(2, 1), 3, 1);
    const mid = [...odd.data.subarray(3, 6)];
    expect(mid[1]).toBe(0);
    expect(Math.abs(mid[0] - 127.5)).toBeLessThanOrEqual(1);
    expect(Math.abs(mid[2] - 127.5)).toBeLessThanOrEqual(1);
    const gray: RawImage = { data: new Uint8Array([10, 20, 30, 40]), width: 2, height: 2, channels: 1 };
    expect([...resampleRgb(gray, 1, 1).data]).toEqual([25, 25, 25]);
    expect([...resampleRgb(gray, 4, 4).data.subarray(0, 3)]).toEqual([10, 10, 10]);
  });

  it('fits an image into cells keeping its aspect', () => {
    expect(fitImage(256, 256, 38, 25, BLOCK_CELL)).toEqual({ cols: 38, rows: 19, pxWidth: 38, pxHeight: 38 });
    expect(fitImage(256, 256, 80, 10, BLOCK_CELL)).toEqual({ cols: 20, rows: 10, pxWidth: 20, pxHeight: 20 });
    expect(fitImage(200, 100, 40, 40, BLOCK_CELL)).toEqual({ cols: 40, rows: 10, pxWidth: 40, pxHeight: 20 });
    expect(fitImage(256, 256, 30, 15, { width: 10, height: 20 })).toEqual({ cols: 30, rows: 15, pxWidth: 300, pxHeight: 300 });
    expect(fitImage(10, 10, 0, 5).cols).toBe(0);
  });
});

describe('half-blocks', () => {
  it('draws two pixels per cell with 24-bit colours, each row exactly cols wide', () => {
    const lines = renderBlocks(halves(8, 8), 4, 2);
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      expect(l.replace(/\x1b\[[0-9;]*m/g, '')).toBe(UPPER_HALF.repeat(4));
      expect(l.endsWith('\x1b[0m')).toBe(true);
    }
    expect(lines[0]).toContain('\x1b[38;2;255;0;0;48;2;255;0;0m▀▀');
    expect(lines[0]).toContain('38;2;0;0;255;48;2;0;0;255m▀▀');
  });

  it('leaves the lower half empty for an odd pixel height, centres narrow images, and has a 256-colour mode', () => {
    const lines = renderBlocks(halves(4, 4), 6, 2, { pxWidth: 4, pxHeight: 3 });
    const text = lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
    expect(text).toEqual([' ▀▀▀▀ ', ' ▀▀▀▀ ']);
    expect(lines[1]).not.toContain('48;'); // last row: no lower pixel, the default background
    const c256 = renderBlocks(halves(4, 4), 2, 1, { trueColor: false });
    expect(c256[0]).toContain(`38;5;${xterm256(255, 0, 0)};48;5;${xterm256(255, 0, 0)}m`);
    expect(xterm256(255, 0, 0)).toBe(196);
    expect(xterm256(0, 0, 0)).toBe(16);
    expect(xterm256(128, 128, 128)).toBe(244);
  });
});

describe('terminal graphics protocols', () => {
  it('encodes a PNG that decoders read back', async () => {
    const img = gradient(7, 5);
    const png = encodePngSync(img);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([7, 5, 3]);
    expect(Buffer.compare(data, Buffer.from(img.data))).toBe(0);
  });

  it('kitty: raw RGB in base64 chunks of at most 4096 bytes, no replies, placements that keep the cursor', () => {
    const img = gradient(64, 64); // 12288 bytes -> 16384 base64 -> 4 chunks
    const seq = kittyTransmit(img, 42);
    const chunks = [...seq.matchAll(/\x1b_G([^;]*);([^\x1b]*)\x1b\\/g)];
    expect(chunks).toHaveLength(4);
    expect(chunks[0][1]).toBe('a=t,f=24,s=64,v=64,i=42,q=2,m=1');
    expect(chunks.slice(1).map((c) => c[1])).toEqual(['m=1', 'm=1', 'm=0']);
    for (const c of chunks) expect(c[2].length).toBeLessThanOrEqual(4096);
    expect(Buffer.from(chunks.map((c) => c[2]).join(''), 'base64').equals(Buffer.from(img.data))).toBe(true);
    expect(kittyPlace(42, 2, 30, 15)).toBe('\x1b_Ga=p,i=42,p=2,c=30,r=15,C=1,q=2\x1b\\');
    expect(kittyDelete(42)).toBe('\x1b_Ga=d,d=I,i=42,q=2\x1b\\');
  });

  it('iTerm2: an inline PNG sized in cells', async () => {
    const seq = itermImage(gradient(6, 6), 20, 10);
    const m = /^\x1b\]1337;File=inline=1;size=(\d+);width=20;height=10;preserveAspectRatio=1:([A-Za-z0-9+/=]+)\x07$/.exec(seq);
    expect(m).not.toBeNull();
    const png = Buffer.from(m![2], 'base64');
    expect(png.length).toBe(Number(m![1]));
    expect((await sharp(png).metadata()).width).toBe(6);
  });

  it('sixel: palette, six-row bands with run lengths, the raster size', () => {
    const seq = sixelImage(halves(8, 8), 8, 12);
    expect(seq.startsWith('\x1bP0;1;0q"1;1;8;12')).toBe(true);
    expect(seq.endsWith('\x1b\\')).toBe(true);
    const red = /#(\d);2;100;0;0/.exec(seq)![1];
    const blue = /#(\d);2;0;0;100/.exec(seq)![1];
    expect(new Set([red, blue]).size).toBe(2);
    // Two bands of 6 rows; each: red on the left 4 columns, blue on the right 4 ('~' = all six bits, '?' none).
    const defs = [...seq.matchAll(/#\d+;2;\d+;\d+;\d+/g)];
    expect(defs).toHaveLength(2);
    const body = seq.slice(defs[1].index! + defs[1][0].length, -2);
    const band = [`#${red}!4~!4?`, `#${blue}!4?!4~`].sort((a, b) => body.indexOf(a) - body.indexOf(b)).join('$');
    expect(body).toBe(`${band}-${band}-`);
    const q = quantize(gradient(64, 64), 16);
    expect(q.palette).toHaveLength(16);
    expect(Math.max(...q.index)).toBeLessThan(16);
  });
});

describe('graphics detection', () => {
  it('picks the protocol from the terminal environment; tmux gets half-blocks; the flag wins', () => {
    const d = (env: Record<string, string>, flag?: string) => detectGraphics(env, flag).mode;
    expect(d({ TERM: 'xterm-kitty', KITTY_WINDOW_ID: '1' })).toBe('kitty');
    expect(d({ TERM_PROGRAM: 'ghostty' })).toBe('kitty');
    expect(d({ TERM_PROGRAM: 'iTerm.app' })).toBe('iterm');
    expect(d({ TERM_PROGRAM: 'WezTerm' })).toBe('iterm');
    expect(d({ TERM: 'foot' })).toBe('sixel');
    expect(d({ TERM: 'mlterm' })).toBe('sixel');
    expect(d({ TERM: 'xterm-256color' })).toBe('blocks');
    expect(d({ TERM: 'tmux-256color', TMUX: '/tmp/tmux-0/default,1,0', KITTY_WINDOW_ID: '1' })).toBe('blocks');
    expect(d({ TERM: 'screen' })).toBe('blocks');
    expect(d({ TERM: 'xterm-kitty' }, 'blocks')).toBe('blocks');
    expect(d({ ALAE_GRAPHICS: 'sixel' })).toBe('sixel');
    expect(d({ ALAE_GRAPHICS: 'sixel' }, 'iterm')).toBe('iterm');
    expect(() => detectGraphics({}, 'ascii')).toThrow(/--graphics must be one of kitty, iterm, sixel, blocks/);
    expect(detectGraphics({ TERM_PROGRAM: 'Apple_Terminal' }).trueColor).toBe(false);
    expect(detectGraphics({ TERM: 'xterm-256color', COLORTERM: 'truecolor' }).trueColor).toBe(true);
  });
});

describe('graphics overlay and screen', () => {
  const img = gradient(16, 16);
  const place = (image: RawImage, row: number, col: number) => ({ image, row, col, cols: 10, rows: 5, pxWidth: 100, pxHeight: 100 });

  it('kitty: sends an image once, places it again cheaply, deletes images no longer shown', () => {
    const o = new GraphicsOverlay('kitty');
    o.stage([place(img, 1, 20)]);
    let s = o.update(new Set());
    expect(s).toMatch(/a=t,f=24,s=16,v=16,i=(\d+)/);
    expect(s).toContain('\x1b7\x1b[2;21H\x1b_Ga=p,');
    expect(o.update(new Set([0]))).toBe(''); // unchanged, text rewritten elsewhere: nothing
    s = o.update(new Set([3])); // text rewritten over it: placed again, not sent again
    expect(s).not.toContain('a=t');
    expect(s).toContain('a=p');
    o.stage([place(gradient(8, 8), 1, 20)]);
    s = o.update(new Set());
    expect(s).toContain('a=t,f=24,s=8,v=8');
    expect(s).toContain('a=d,d=I');
    expect(o.dispose()).toContain('a=d,d=I');
  });

  it('sixel/iTerm2: drawn where staged, cursor saved and restored; redrawn when their rows are rewritten; erased when gone', () => {
    const o = new GraphicsOverlay('sixel');
    o.stage([place(img, 3, 5)]);
    let s = o.update(new Set());
    expect(s.startsWith('\x1b7\x1b[4;6H\x1bP0;1;0q"1;1;100;100')).toBe(true);
    expect(s.endsWith('\x1b\\\x1b8')).toBe(true);
    expect(o.update(new Set([0, 1, 2, 8]))).toBe('');
    expect(o.update(new Set([5]))).toContain('\x1bP');
    o.stage([place(gradient(4, 4), 3, 5)]); // another image in the same cells: drawn over, nothing erased
    expect(o.eraseStale()).toEqual({ seq: '', rows: [] });
    expect(o.update(new Set())).toContain('\x1bP');
    o.stage([]);
    const stale = o.eraseStale();
    expect(stale.rows).toEqual([3, 4, 5, 6, 7]);
    expect(stale.seq).toContain('\x1b[4;6H\x1b[10X');
    expect(o.update(new Set())).toBe('');
    const it2 = new GraphicsOverlay('iterm');
    it2.stage([place(img, 0, 0)]);
    expect(it2.update(new Set())).toMatch(/^\x1b7\x1b\[1;1H\x1b\]1337;File=inline=1;size=\d+;width=10;height=5;/);
  });

  it('screen: writes only changed lines in place, swaps placeholders for image rows, passes other writes through', () => {
    const out: string[] = [];
    const screen = new Screen({ write: (s: string) => out.push(s) });
    const row = renderBlocks(halves(8, 2), 8, 1)[0];
    const ph = placeholderFor(row, 8);
    expect([...ph]).toHaveLength(8);
    expect(ph).not.toContain('▀');
    screen.write(`title\n${ph} x\nstatus 1\n`);
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(`\x1b[1;1Htitle\x1b[0m\x1b[K\x1b[2;1H${row} x\x1b[0m\x1b[K\x1b[3;1Hstatus 1\x1b[0m\x1b[K`);
    out.length = 0;
    // ink erases its previous frame before each one: only the changed line goes out.
    screen.write(`\x1b[2K\x1b[1A\x1b[2K\x1b[1A\x1b[2K\x1b[1A\x1b[2K\x1b[Gtitle\n${ph} x\nstatus 2\n`);
    expect(out).toEqual(['\x1b[3;1Hstatus 2\x1b[0m\x1b[K']);
    out.length = 0;
    screen.write('\x1b[?2026h');
    screen.write('\x1b[2K\x1b[1A\x1b[2K\x1b[G');
    expect(out).toEqual(['\x1b[?2026h']);
    out.length = 0;
    screen.invalidate();
    expect(out).toEqual(['\x1b[H\x1b[2J']);
    out.length = 0;
    screen.write('title\nshort\n');
    expect(out[0]).toContain('\x1b[1;1Htitle');
    expect(out[0]).toContain('\x1b[2;1Hshort');
    expect(expandPlaceholders(`a${ph}b`)).toBe(`a${row}b`);
    // Placeholders are plain ASCII (fast for ink to measure); outside text can never hold one.
    expect(ph).toMatch(/^`[0-9a-z]+~*$/);
    expect(placeholderFor(row, 8)).toBe(ph); // the same row, the same placeholder
    expect(safeText('my `photo`.png')).toBe("my 'photo'.png");
    expect(expandPlaceholders(safeText(ph))).toBe(safeText(ph));
  });

  it('screen: redraws sixel images under rewritten lines, erases images that went away', () => {
    const out: string[] = [];
    const overlay = new GraphicsOverlay('sixel');
    const screen = new Screen({ write: (s: string) => out.push(s) }, overlay);
    overlay.stage([place(img, 1, 2)]);
    screen.write('head\n\n\n\n\n\n\nstatus a\n');
    expect(out.join('')).toContain('\x1bP');
    out.length = 0;
    screen.write('head\n\n\n\n\n\n\nstatus b\n'); // the image's rows did not change
    expect(out.join('')).not.toContain('\x1bP');
    out.length = 0;
    screen.write('head\n\nlist item\n\n\n\n\nstatus b\n'); // row 2 rewritten: the image is drawn again
    expect(out.join('')).toContain('\x1bP');
    out.length = 0;
    overlay.stage([]);
    screen.write('head\n\nlist item\n\n\n\n\nstatus b\n');
    const s = out.join('');
    expect(s).toContain('\x1b[2;3H\x1b[10X'); // blanked
    expect(s).toContain('\x1b[3;1Hlist item'); // and its rows' text put back
    expect(s).not.toContain('\x1bP');
  });
});
