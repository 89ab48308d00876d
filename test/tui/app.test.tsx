/**
 * The TUI's components with a fake engine (no model): keys in, frames out.
 * Navigation, the filter, the mixing toggles, help, errors in the status
 * line, cancel, caches, truncation and seed, saving, the layout at 80x24
 * and when resized, and the graphics overlay hand-off.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import { TuiApp } from '../../src/tui/app/app.js';
import { TuiController, styleLevels, type ControllerOptions } from '../../src/tui/app/controller.js';
import { computeLayout } from '../../src/tui/app/layout.js';
import { expandPlaceholders } from '../../src/tui/image/placeholder.js';
import type { Placement } from '../../src/tui/image/overlay.js';
import { FakeEngine, fakeColour, fakeW } from './fake-engine.js';

const KEY = { up: '\x1b[A', down: '\x1b[B', right: '\x1b[C', left: '\x1b[D', esc: '\x1b', enter: '\r', backspace: '\x7f', tab: '\t' };
/** A frame as the terminal shows it (image rows swapped in for their placeholders), without colours. */
const strip = (s: string | undefined) => expandPlaceholders(s ?? '').replace(/\x1b\[[0-9;]*m/g, '');
const tick = (ms = 15) => new Promise((r) => setTimeout(r, ms));
/** Wait until cond holds (up to 10 s): encoding and writing a PNG takes its time on a loaded machine. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await tick(50);
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'alae-tui-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

type Rendered = ReturnType<typeof render>;
const open: { r: Rendered; c: TuiController }[] = [];
afterEach(async () => {
  for (const { r, c } of open.splice(0)) {
    r.unmount();
    await c.dispose();
  }
});

const FILES = ['photos/alice.png', 'photos/bob.jpg', 'photos/carol.png', 'photos/noface.png', 'other/dave.png'];

async function setup(opts: { files?: string[]; engine?: FakeEngine; size?: { columns: number; rows: number }; controller?: ControllerOptions } = {}) {
  const engine = opts.engine ?? new FakeEngine();
  const c = new TuiController(engine, opts.files ?? FILES, { outDir: tmp, nextSeed: () => 7, loadPhoto: async () => ({ data: new Uint8Array(12), width: 2, height: 2, channels: 3 }), ...opts.controller });
  const r = render(<TuiApp controller={c} size={opts.size ?? { columns: 100, rows: 30 }} />);
  open.push({ r, c });
  const frame = () => strip(r.lastFrame());
  const press = async (keys: string) => {
    r.stdin.write(keys);
    await tick();
  };
  const settle = async () => {
    await c.idle();
    await tick();
  };
  // Keys, then the work they started: the screen once it has settled.
  const settled = async (keys: string) => {
    await press(keys);
    await settle();
    return frame();
  };
  await settle();
  return { engine, c, r, frame, press, settle, settled };
}

/** The list row of the selected file. */
const selectedRow = (f: string) => f.split('\n').find((l) => l.includes('›'));

describe('tui: browse view', () => {
  it('shows the list, the photo and its reconstruction; arrows and j/k move the selection', async () => {
    const t = await setup();
    let f = t.frame();
    expect(f).toContain('alae tui · fake.safetensors · 16×16 · 8 styles · fake');
    expect(f).toContain('seed 0 · ψ 1.0 · browse');
    expect(f).toContain('images 5');
    expect(selectedRow(f)).toContain('alice.png');
    expect(f).toContain('alice.png (as the model sees it)');
    expect(f).toContain('reconstruction');
    expect(f).toContain('▀');
    expect(f).toContain('ready');
    expect(selectedRow(await t.settled(KEY.down))).toContain('bob.jpg');
    expect(selectedRow(await t.settled('j'))).toContain('carol.png');
    await t.press('k');
    await t.press(KEY.up);
    expect(selectedRow(t.frame())).toContain('alice.png');
    // Keys typed faster than they are read arrive as one chunk.
    await t.press('jj');
    expect(selectedRow(t.frame())).toContain('carol.png');
    await t.press('G');
    expect(selectedRow(t.frame())).toContain('dave.png');
    await t.press('g');
    expect(selectedRow(t.frame())).toContain('alice.png');
    f = t.frame();
    expect(f.split('\n').length).toBeLessThanOrEqual(29);
  });

  it('filters the list by typing after /; Enter keeps the filter, Esc clears it', async () => {
    const t = await setup();
    await t.press('/');
    expect(t.frame()).toContain('type to filter');
    let f = await t.settled('ca');
    expect(f).toContain('images 1/5');
    expect(f).toContain('/ca▏');
    expect(selectedRow(f)).toContain('carol.png');
    expect(f).not.toContain('alice.png');
    await t.press(KEY.backspace);
    await t.press(KEY.backspace);
    await t.press('photos b');
    f = t.frame();
    expect(f).toContain('images 1/5');
    expect(selectedRow(f)).toContain('bob.jpg');
    await t.press(KEY.enter);
    f = t.frame();
    expect(f).toContain('/photos b');
    expect(f).not.toContain('type to filter');
    // Keys are keys again: q would quit, j moves (nothing else to move to).
    await t.press('zzz');
    expect(t.frame()).toContain('images 1/5');
    await t.press('/');
    await t.press('nothing-matches');
    expect(t.frame()).toContain('(no match)');
    f = await t.settled(KEY.esc);
    expect(f).toContain('images 5');
    expect(f).toContain('dave.png');
  });

  it('shows a face that cannot be encoded in the status line, marks it in the list, and stays up', async () => {
    const t = await setup();
    let f = await t.settled('jjj');
    expect(selectedRow(f)).toContain('✗ noface.png');
    expect(f).toContain('✗ noface.png: no face found');
    f = await t.settled('j');
    expect(selectedRow(f)).toContain('dave.png');
    expect(f).toContain('dave.png (as the model sees it)');
    // The failure is remembered, not retried.
    const tries = t.engine.calls.filter((x) => x.file === 'photos/noface.png').length;
    await t.settled('k');
    expect(t.engine.calls.filter((x) => x.file === 'photos/noface.png').length).toBe(tries);
  });

  it('caches per image: going back shows the result at once, without asking the engine again', async () => {
    const t = await setup();
    await t.settled('j');
    const n = t.engine.calls.length;
    await t.press('k');
    expect(t.c.working).toBe(false);
    expect(t.engine.calls.length).toBe(n);
    expect(t.frame()).toContain('alice.png (as the model sees it)');
    expect(t.c.getSnapshot().panes[1].image).not.toBeNull();
  });

  it('shows a spinner with elapsed time while working; Esc cancels and the late result is ignored', async () => {
    const engine = new FakeEngine();
    engine.hold = true;
    const t = await (async () => {
      const c = new TuiController(engine, FILES, { outDir: tmp });
      const r = render(<TuiApp controller={c} size={{ columns: 100, rows: 30 }} tickMs={20} />);
      open.push({ r, c });
      return { c, r, frame: () => strip(r.lastFrame()) };
    })();
    await tick(80);
    let f = t.frame();
    expect(f).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] encoding alice\.png… \d+\.\ds \(Esc cancels\)/);
    const spinnerFrames = new Set(t.r.frames.map((x) => /([⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]) encoding/.exec(strip(x))?.[1]).filter(Boolean));
    expect(spinnerFrames.size).toBeGreaterThan(1); // it ticks while the engine works
    t.r.stdin.write(KEY.esc);
    await tick();
    f = t.frame();
    expect(f).toContain('cancelled encoding alice.png');
    expect(f).not.toContain('Esc cancels');
    expect(t.c.working).toBe(false);
    engine.release(); // the cancelled request finishes late
    await tick();
    expect(t.frame()).not.toContain('(as the model sees it)');
    expect(engine.calls.length).toBe(1);
    // Any change resumes work.
    engine.hold = false;
    t.r.stdin.write('j');
    await t.c.idle();
    await tick();
    expect(t.frame()).toContain('bob.jpg (as the model sees it)');
  });

  it('changes truncation with + and -, re-rolls the seed with r; each change is decoded and cached', async () => {
    const t = await setup();
    expect(await t.settled('-')).toContain('ψ 0.9');
    expect(t.engine.calls.at(-1)).toEqual({ op: 'decode', seed: 0, psi: 0.9 });
    await t.press('--');
    expect(t.frame()).toContain('ψ 0.7');
    expect(await t.settled('+++++')).toContain('ψ 1.0');
    const f = await t.settled('r');
    expect(f).toContain('seed 7 · ψ 1.0');
    expect(f).toContain('noise seed 7');
    expect(t.engine.calls.at(-1)).toEqual({ op: 'decode', seed: 7, psi: 1 });
    const img = t.c.getSnapshot().panes[1].image!;
    expect([...img.data.subarray(0, 3)]).toEqual(fakeColour(new Float32Array(8 * 4).fill(fakeW('photos/alice.png')[0]), 8, 7, 1));
  });

  it('f refines the face shown with progress, Esc stops it; the refined w is kept and used for the reconstruction and the mix', async () => {
    const t = await setup();
    const w = fakeW('photos/alice.png')[0];
    t.engine.hold = true;
    await t.press('f');
    expect(t.frame()).toMatch(/refining alice\.png: step 1\/3… \d+\.\ds \(Esc cancels\)/);
    await t.press(KEY.esc);
    expect(t.frame()).toContain('cancelled refining alice.png');
    expect(t.c.working).toBe(false);
    t.engine.release();
    await t.settle();
    expect(t.frame()).not.toContain('reconstruction (refined)');
    expect(t.engine.calls.filter((c) => c.op === 'refine')).toEqual([{ op: 'refine', seed: 0 }]);

    t.engine.hold = false;
    expect(await t.settled('f')).toContain('reconstruction (refined)');
    expect(t.frame()).toContain('alice.png: refined (3 steps from E(x), noise seed 0); mixing uses it too');
    expect([...t.c.getSnapshot().panes[1].image!.data.subarray(0, 3)]).toEqual(fakeColour(new Float32Array(8 * 4).fill(w + 10), 8, 0, 1));
    expect(t.c.current()!.name).toBe('alice-refined-recon-seed0.png');
    const calls = t.engine.calls.length;
    await t.press('f');
    expect(t.frame()).toContain('refined already');
    expect(t.engine.calls.length).toBe(calls);
    // Mixing: A's coarse styles are the refined w's.
    await t.settled('m2');
    expect(t.c.getSnapshot().panes[2].image!.data[0]).toBe(Math.round((w + 10) * 5) % 256);
  });

  it('saves the reconstruction as a PNG and shows the path', async () => {
    const t = await setup();
    await t.press('s');
    const file = path.join(tmp, 'alice-recon-seed0.png');
    await until(() => t.frame().includes(`✓ saved ${file}`));
    expect(t.frame()).toContain(`✓ saved ${file}`);
    expect((await stat(file)).size).toBeGreaterThan(0);
    const meta = await sharp(file).metadata();
    expect([meta.width, meta.height]).toEqual([16, 16]);
    // Never overwrites: a second save gets a new name.
    await t.press('s');
    await until(() => t.frame().includes('alice-recon-seed0-2.png'));
    expect(t.frame()).toContain('alice-recon-seed0-2.png');
  });

  it('opens and closes the help overlay with ? (and Esc)', async () => {
    const t = await setup();
    await t.press('?');
    let f = t.frame();
    expect(f).toContain('keys');
    expect(f).toContain('re-roll the noise seed');
    expect(f).toContain('levels: coarse = style slots 0-3, middle = style slots 4-5, fine = style slots 6-7');
    expect(f).not.toContain('images 5');
    await t.press('j'); // ignored while the help is up
    await t.press('?');
    f = t.frame();
    expect(f).not.toContain('re-roll the noise seed');
    expect(selectedRow(f)).toContain('alice.png');
    await t.press('?');
    await t.press(KEY.esc);
    expect(t.frame()).toContain('images 5');
  });

  it('quits on q', async () => {
    const t = await setup();
    let quit = false;
    const r = render(<TuiApp controller={t.c} size={{ columns: 100, rows: 30 }} onQuit={() => (quit = true)} />);
    r.stdin.write('q');
    await tick();
    expect(quit).toBe(true);
    r.unmount();
  });
});

describe('tui: mixing view', () => {
  it('picks A and B, toggles each level between them, and shows the result live', async () => {
    const t = await setup();
    await t.press('j');
    await t.press('a'); // A = bob
    await t.press('jj');
    expect(await t.settled('b')).toContain('B = noface.png'); // B = noface
    await t.press('k');
    await t.settled('b'); // B = carol
    const decodesBefore = t.engine.calls.filter((x) => x.op === 'decode').length;
    let f = await t.settled('m');
    expect(f).toContain('seed 0 · ψ 1.0 · mix');
    expect(f).toContain('[1] coarse 0-3:  A');
    expect(f).toContain('[2] middle 4-5:  A'); // 8 style slots (32x32): split by resolution
    expect(f).toContain('[3] fine 6-7:  A');
    expect(f).toContain('A: bob.jpg');
    expect(f).toContain('B: carol.png');
    expect(f).toContain('mix: coarse A, middle A, fine A');
    const wa = fakeW('photos/bob.jpg')[0];
    const wb = fakeW('photos/carol.png')[0];
    expect(wa).not.toBe(wb);
    const colour = () => [...t.c.getSnapshot().panes[2].image!.data.subarray(0, 3)];
    const styles = (first: number, last: number) => {
      const s = new Float32Array(8 * 4).fill(first);
      s.fill(last, 7 * 4);
      return s;
    };
    expect(colour()).toEqual(fakeColour(styles(wa, wa), 8, 0, 1));
    // Both reconstructions were made while browsing, and all-A is A's reconstruction: nothing new to decode.
    expect(t.engine.calls.filter((x) => x.op === 'decode').length).toBe(decodesBefore);

    await t.press('1');
    f = t.frame();
    expect(f).toContain('[1] coarse 0-3:  B');
    expect(f).toContain('mix: coarse B, middle A, fine A');
    await t.settle();
    expect(colour()).toEqual(fakeColour(styles(wb, wa), 8, 0, 1));
    expect(await t.settled('2')).toContain('mix: coarse B, middle B, fine A');
    expect(colour()).toEqual(fakeColour(styles(wb, wa), 8, 0, 1)); // the fake's colour sees slots 0 and 7 only
    expect(await t.settled('3')).toContain('mix: coarse B, middle B, fine B');
    expect(colour()).toEqual(fakeColour(styles(wb, wb), 8, 0, 1));
    await t.settled('1');
    expect(colour()).toEqual(fakeColour(styles(wa, wb), 8, 0, 1));
    await t.press('4'); // no such level
    expect(t.frame()).toContain('mix: coarse A, middle B, fine B');
    // Back to mixes seen before: cached.
    const n = t.engine.calls.length;
    await t.press('13');
    await t.press('3');
    await t.press('1');
    expect(t.engine.calls.length).toBe(n);
    expect(t.c.working).toBe(false);

    // Step A and B through the files; x swaps them.
    expect(await t.settled(KEY.right)).toContain('A: carol.png');
    expect(await t.settled('b')).toContain('B: noface.png');
    expect(t.frame()).toContain('needs both faces');
    await t.press('B');
    f = await t.settled('x');
    expect(f).toContain('A: carol.png');
    expect(f).toContain('B: carol.png');
    await t.press('m');
    expect(t.frame()).toContain('· browse');
  });

  it('offers the fine level when the model has more than 8 style slots', async () => {
    const t = await setup({ engine: new FakeEngine(18) });
    const f = await t.settled('m');
    expect(f).toContain('[1] coarse 0-3:  A');
    expect(f).toContain('[2] middle 4-7:  A');
    expect(f).toContain('[3] fine 8-17:  A');
    await t.press('3');
    expect(t.frame()).toContain('mix: coarse A, middle A, fine B');
    expect(t.frame()).toContain('A: alice.png');
    expect(t.frame()).toContain('B: bob.jpg');
  });

  it('splits the style slots into levels: the reference\'s from 64x64 up, by resolution below', () => {
    expect(styleLevels(18)).toEqual([
      { name: 'coarse', from: 0, to: 4 },
      { name: 'middle', from: 4, to: 8 },
      { name: 'fine', from: 8, to: 18 },
    ]);
    expect(styleLevels(8)).toEqual([
      { name: 'coarse', from: 0, to: 4 },
      { name: 'middle', from: 4, to: 6 },
      { name: 'fine', from: 6, to: 8 },
    ]);
    expect(styleLevels(4).map((l) => l.name)).toEqual(['coarse']);
  });

  it('saves the mix under a name that says what was mixed', async () => {
    const t = await setup();
    await t.settled('m1');
    await t.press('s');
    const file = path.join(tmp, 'mix-alice-bob-BAA-seed0.png'); // coarse from B, middle and fine from A
    await until(() => t.frame().includes(`saved ${file}`));
    expect(t.frame()).toContain(`saved ${file}`);
    expect((await sharp(file).metadata()).width).toBe(16);
  });
});

describe('tui: group photos and the status line', () => {
  it('[ and ] step through the faces of a group photo (the largest first); each face is reconstructed and saved as itself', async () => {
    const t = await setup({ files: ['photos/group.jpg', 'photos/alice.png'], size: { columns: 140, rows: 30 } });
    let f = t.frame();
    expect(f).toContain('face 2/3 · group.jpg (as the model sees it)');
    expect(f).toContain('group.jpg: 3 faces, the largest shown ([ and ] step through them)');
    const colour = () => [...t.c.getSnapshot().panes[1].image!.data.subarray(0, 3)];
    const w = (k: number) => new Float32Array(8 * 4).fill(fakeW(`photos/group.jpg#${k}`)[0]);
    expect(colour()).toEqual(fakeColour(w(1), 8, 0, 1));
    f = await t.settled(']');
    expect(f).toContain('face 3/3 · group.jpg');
    expect(f).toContain('group.jpg: face 3 of 3');
    expect(colour()).toEqual(fakeColour(w(2), 8, 0, 1));
    expect(await t.settled(']]')).toContain('face 2/3 · group.jpg'); // round the end
    expect(await t.settled('[')).toContain('face 1/3 · group.jpg');
    expect(colour()).toEqual(fakeColour(w(0), 8, 0, 1));
    // One encoding for all three faces.
    expect(t.engine.calls.filter((x) => x.op === 'encode' && x.file === 'photos/group.jpg')).toHaveLength(1);
    await t.press('s');
    const file = path.join(tmp, 'group-face1-recon-seed0.png');
    await until(() => t.frame().includes(`saved ${file}`));
    expect(existsSync(file)).toBe(true);
    // A photo with one face says so.
    await t.settled('j');
    await t.press(']');
    expect(t.frame()).toContain('alice.png has one face');
  });

  it('mixing: [ ] step A through its faces, { } step B; the mix uses the faces shown', async () => {
    const t = await setup({ files: ['photos/group.jpg', 'photos/alice.png'], size: { columns: 140, rows: 30 } });
    await t.settled('m');
    await t.settled('1x'); // coarse from B; then A = alice, B = group
    const f = await t.settled('}');
    expect(f).toContain('face 3/3 · B: group.jpg');
    const styles = new Float32Array(8 * 4).fill(fakeW('photos/alice.png')[0]);
    styles.fill(fakeW('photos/group.jpg#2')[0], 0, 4 * 4); // coarse: slots 0-3 of a 16x16 model
    expect([...t.c.getSnapshot().panes[2].image!.data.subarray(0, 3)]).toEqual(fakeColour(styles, 8, 0, 1));
  });

  it('another image clears the last status message', async () => {
    const t = await setup();
    expect(await t.settled('r')).toContain('noise seed 7');
    expect(await t.settled('j')).not.toContain('noise seed 7');
    expect(await t.settled('jj')).toContain('✗ noface.png: no face found'); // noface: its error is the new message
    expect(await t.settled('j')).not.toContain('no face found');
  });
});

describe('tui: layout', () => {
  it('fits 80x24: 23 lines, none wider than 80 cells, two images side by side', async () => {
    const t = await setup({ size: { columns: 80, rows: 24 } });
    const lines = t.frame().split('\n');
    expect(lines.length).toBe(23);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80);
    expect(lines[0]).toContain('browse');
    expect(lines[22]).toContain('q quit');
    const imageRows = lines.filter((l) => (l.match(/▀/g) ?? []).length >= 40);
    expect(imageRows.length).toBeGreaterThan(10);
  });

  it('redraws for a new size (resize), and asks for more room when too small', async () => {
    const t = await setup();
    expect(t.frame().split('\n').length).toBe(29);
    t.r.rerender(<TuiApp controller={t.c} size={{ columns: 80, rows: 24 }} />);
    await tick();
    expect(t.frame().split('\n').length).toBe(23);
    t.r.rerender(<TuiApp controller={t.c} size={{ columns: 30, rows: 8 }} />);
    await tick();
    expect(t.frame()).toContain('needs at least 40×10');
    t.r.rerender(<TuiApp controller={t.c} size={{ columns: 120, rows: 40 }} />);
    await tick();
    const lines = t.frame().split('\n');
    expect(lines.length).toBe(39);
    expect(Math.max(...lines.map((l) => (l.match(/▀/g) ?? []).length))).toBeGreaterThan(60);
  });

  it('lays out panes inside the terminal in both views', () => {
    for (const [w, h] of [[80, 24], [100, 30], [200, 60], [40, 10]]) {
      for (const view of ['browse', 'mix'] as const) {
        const l = computeLayout(view, w, h);
        expect(l.height).toBe(h - 1);
        for (const p of l.panes) {
          expect(p.x + p.width).toBeLessThanOrEqual(w);
          expect(p.y + p.height).toBeLessThanOrEqual(l.status.y);
          expect(p.width).toBeGreaterThan(5);
        }
      }
    }
  });

  it('hands the image cells to the graphics overlay instead of drawing half-blocks (kitty)', async () => {
    const engine = new FakeEngine();
    const c = new TuiController(engine, FILES, { outDir: tmp });
    let staged: readonly Placement[] = [];
    const sink = { stage: (p: readonly Placement[]) => (staged = p) };
    const r = render(<TuiApp controller={c} graphics="kitty" overlay={sink} cell={{ width: 10, height: 20 }} size={{ columns: 100, rows: 30 }} />);
    open.push({ r, c });
    await c.idle();
    await tick();
    const lines = strip(r.lastFrame()).split('\n');
    expect(lines.join('')).not.toContain('▀');
    expect(staged).toHaveLength(2);
    const [photo, rec] = staged;
    expect(photo.image).toBe(c.getSnapshot().panes[0].image);
    expect(rec.image).toBe(c.getSnapshot().panes[1].image);
    // Same row, the reconstruction right of the photo; square in pixels; inside the panes; blank cells under them.
    expect(rec.row).toBe(photo.row);
    expect(rec.col).toBeGreaterThan(photo.col + photo.cols);
    expect(photo.cols * 10).toBeCloseTo(photo.rows * 20, -1);
    expect(rec.col + rec.cols).toBeLessThanOrEqual(100);
    expect(photo.row + photo.rows).toBeLessThan(27);
    expect(lines[photo.row + 1].slice(photo.col, photo.col + photo.cols).trim()).toBe('');
    expect(lines[photo.row - 1]).toContain('alice.png (as the model sees it)');
    // Help hides them.
    r.stdin.write('?');
    await tick();
    expect(staged).toEqual([]);
  });
});
