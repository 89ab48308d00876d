/** Pure latent arithmetic and the streamed latents files. */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlaeError } from '../../src/errors.js';
import {
  broadcastStyles,
  editLatents,
  interpolateLatents,
  levelRange,
  levelRanges,
  styleLevels,
  type StyleLevel,
  makeLatents,
  mixStyles,
  parseLevel,
  rowOf,
} from '../../src/api/latents.js';
import { LatentsWriter, readLatents } from '../../src/api/latents-file.js';
import { readSafetensors } from '../../src/io/safetensors.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'alae-latents-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const a = makeLatents([[1, 2, 3]]);
const b = makeLatents([[5, 10, -3]]);

describe('latent arithmetic', () => {
  it('levels: from 64x64 up the reference\'s coarse [0,4), middle [4,8), fine [8,end); below by resolution; <from>-<to> ends exclusive', () => {
    expect(levelRange('coarse', 18)).toEqual([0, 4]);
    expect(levelRange('middle', 18)).toEqual([4, 8]);
    expect(levelRange('fine', 18)).toEqual([8, 18]);
    expect(levelRange('fine', 10)).toEqual([8, 10]);
    // 32x32 (8 slots): 4x4-8x8 | 16x16 | 32x32; 16x16 (6 slots): one resolution each.
    expect(levelRanges(8)).toEqual({ coarse: [0, 4], middle: [4, 6], fine: [6, 8] });
    expect(levelRanges(6)).toEqual({ coarse: [0, 2], middle: [2, 4], fine: [4, 6] });
    expect(levelRanges(4)).toEqual({ coarse: [0, 4] });
    // Every split covers each slot exactly once, coarse to fine.
    for (let slots = 1; slots <= 18; slots++) {
      const covered = styleLevels(slots).flatMap((l) => Array.from({ length: l.to - l.from }, (_, i) => l.from + i));
      expect(covered).toEqual(Array.from({ length: slots }, (_, i) => i));
    }
    expect(() => levelRange('fine', 4)).toThrow(/4 style slots has no fine level \(it has: coarse\)/);
    expect(() => levelRange('toString' as StyleLevel, 8)).toThrow(/unknown style level/);
    expect(parseLevel('2-5')).toEqual([2, 5]);
    expect(parseLevel('fine')).toBe('fine');
    expect(() => parseLevel('5-2')).toThrow(AlaeError);
    expect(() => parseLevel('hair')).toThrow(/coarse, middle, fine/);
    expect(() => levelRange([8, 12], 8)).toThrow(/select nothing/);
  });

  it('mixStyles takes exactly the level slots from the source', () => {
    const t = broadcastStyles(makeLatents([[1, 1], [2, 2]]), 10);
    const s = broadcastStyles(makeLatents([[7, 7]]), 10);
    const m = mixStyles(t, s, 'middle', 10);
    expect([m.count, m.slots, m.size]).toEqual([2, 10, 2]);
    for (let i = 0; i < 2; i++) {
      for (let k = 0; k < 10; k++) {
        const want = k >= 4 && k < 8 ? 7 : i + 1;
        expect(Array.from(m.data.subarray((i * 10 + k) * 2, (i * 10 + k + 1) * 2))).toEqual([want, want]);
      }
    }
    expect(() => mixStyles(makeLatents([[1, 1], [2, 2]]), makeLatents([[1, 1], [2, 2], [3, 3]]), 'coarse', 10)).toThrow(/counts must match/);
  });

  it('interpolates in W with exact endpoints', () => {
    const line = interpolateLatents(a, b, 5);
    expect(line.count).toBe(5);
    expect(Array.from(rowOf(line, 0))).toEqual([1, 2, 3]);
    expect(Array.from(rowOf(line, 4))).toEqual([5, 10, -3]);
    expect(Array.from(rowOf(line, 2))).toEqual([3, 6, 0]);
    expect(() => interpolateLatents(a, b, 1)).toThrow(/steps/);
  });

  it('edits along a direction', () => {
    const e = editLatents(a, new Float32Array([1, 0, -1]), 2);
    expect(Array.from(e.data)).toEqual([3, 2, 1]);
    expect(() => editLatents(a, new Float32Array(2), 1)).toThrow(/direction has 2 values/);
  });
});

describe('latents files', () => {
  const rows = makeLatents([[0.1, -2.5, 3e-8], [1 / 3, 7, -4.25]]);
  const sources = [
    { file: 'a.jpg', face: 0, box: [1, 2, 3, 4] as [number, number, number, number] },
    { file: 'b.jpg', face: 1 },
  ];

  for (const ext of ['safetensors', 'json']) {
    it(`${ext}: appended rows read back exactly, with their sources`, async () => {
      const file = path.join(tmp, `w.${ext}`);
      const w = await LatentsWriter.open(file, 3, { model: 'm.safetensors', config: '{"name":"x"}', align: 'ffhq' });
      await w.append(makeLatents(rows.data.slice(0, 3), 3), [sources[0]]);
      // Not there until finished: readers never see a partial file.
      expect((await readdir(tmp)).filter((f) => f === `w.${ext}`)).toHaveLength(0);
      await w.append(makeLatents(rows.data.slice(3), 3), [sources[1]]);
      await w.finish();
      const back = await readLatents(file);
      expect(Array.from(back.latents.data)).toEqual(Array.from(rows.data));
      expect(back.sources).toEqual(sources);
      expect(back.info.model).toBe('m.safetensors');
      expect(back.info.align).toBe('ffhq');
      expect((await readdir(tmp)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      if (ext === 'safetensors') {
        const st = await readSafetensors(file); // the project's strict reader accepts it
        expect(st.tensors.get('w')!.shape).toEqual([2, 3]);
      }
    });
  }

  it('abort leaves the old file and no temporary files', async () => {
    const file = path.join(tmp, 'keep.safetensors');
    await writeFile(file, 'old');
    const w = await LatentsWriter.open(file, 3);
    await w.append(rows, sources);
    await w.abort();
    expect((await readdir(tmp)).filter((f) => f.includes('keep'))).toEqual(['keep.safetensors']);
  });

  it('rejects other extensions and foreign files', async () => {
    await expect(LatentsWriter.open(path.join(tmp, 'w.npy'), 3)).rejects.toThrow(/\.safetensors or \.json/);
    const bad = path.join(tmp, 'bad.json');
    await writeFile(bad, '{"hello": 1}');
    await expect(readLatents(bad)).rejects.toThrow(/bad\.json: not an alae latents file/);
  });
});
