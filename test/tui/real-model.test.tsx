/**
 * The TUI on a real (small, randomly initialised) model, in this thread:
 * what it shows and saves is what the library computes for the same seed.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import { testBackend } from '../setup-backend.js';
import { createModel, type Alae } from '../../src/api/index.js';
import { TuiApp } from '../../src/tui/app/app.js';
import { TuiController } from '../../src/tui/app/controller.js';
import { InProcessEngine } from '../../src/tui/app/engine.js';

const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');
const A = path.join(FFHQ, '00000.png');
const B = path.join(FFHQ, '00001.png');
const MISSING = path.join(FFHQ, 'missing.png');
const strip = (s: string | undefined) => (s ?? '').replace(/\x1b\[[0-9;]*m/g, '');
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

let alae: Alae;
beforeAll(async () => {
  await testBackend();
  alae = await createModel('test-tiny32', { seed: 3, align: 'none' });
});
afterAll(() => alae.dispose());

describe('tui with a real model', () => {
  it('reconstructs, reports an unreadable file, and mixes coarse styles exactly as the API does', async () => {
    const engine = new InProcessEngine(alae, false);
    expect(engine.info).toMatchObject({ resolution: 32, styleSlots: 8, align: 'none' });
    const c = new TuiController(engine, [A, B, MISSING], { seed: 5 });
    const r = render(<TuiApp controller={c} size={{ columns: 100, rows: 30 }} />);
    const frame = () => strip(r.lastFrame());
    const settle = async () => {
      await c.idle();
      await tick();
    };
    try {
      await settle();
      expect(frame()).toContain('32×32 · 8 styles');
      expect(frame()).toContain('00000.png (as the model sees it)');
      const rec = await alae.reconstruct([A], { seed: 5 });
      expect(c.getSnapshot().panes[1].image!.data).toEqual(rec.faces[0].reconstruction.data);

      r.stdin.write('jj');
      await settle();
      expect(frame()).toMatch(/✗ missing\.png: cannot read file \(ENOENT\)/);
      expect(frame()).toContain('✗ missing.png');

      r.stdin.write('g');
      r.stdin.write('m');
      await settle();
      expect(frame()).toContain('A: 00000.png');
      expect(frame()).toContain('B: 00001.png');
      r.stdin.write('1');
      await settle();
      expect(frame()).toContain('mix: coarse B, middle A');
      const wa = (await alae.encode([A])).latents;
      const wb = (await alae.encode([B])).latents;
      const [expected] = await alae.decode(alae.mixStyles(wa, wb, 'coarse'), { seed: 5 });
      const shown = c.getSnapshot().panes[2].image!;
      expect([shown.width, shown.height]).toEqual([32, 32]);
      expect(shown.data).toEqual(expected.data);
      expect(shown.data).not.toEqual(c.getSnapshot().panes[0].image!.data);
    } finally {
      r.unmount();
      await c.dispose();
    }
  });
});
