/** CLI plumbing of the job commands: progress rendering, seed lists, list options, grid rows. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { expandListOptions, parseSeeds, progressRenderer, summaryLine } from '../../src/cli/support.js';
import { AlaeError } from '../../src/errors.js';
import { defaultRowLevels } from '../../src/cli/mix.js';
import { UsageError } from '../../src/cli/args.js';

function fakeStream(isTTY: boolean) {
  const out: string[] = [];
  const stream = { isTTY, columns: 80, write: (s: string) => out.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { out, stream };
}

describe('progress', () => {
  it('plain lines at the start and every tenth when not a terminal', () => {
    const { out, stream } = fakeStream(false);
    const p = progressRenderer('encode', false, stream);
    for (let i = 1; i <= 50; i++) p({ stage: 'encode', done: i, total: 50, source: `/x/${i}.jpg` });
    p.end();
    expect(out).toHaveLength(11);
    expect(out[0]).toBe('encode: 1/50 (2%) 1.jpg\n');
    expect(out[1]).toBe('encode: 5/50 (10%) 5.jpg\n');
    expect(out[10]).toBe('encode: 50/50 (100%) 50.jpg\n');
  });

  it('one self-updating line on a terminal, closed at the end', () => {
    const { out, stream } = fakeStream(true);
    const p = progressRenderer('generate', false, stream);
    p({ stage: 'generate', done: 1, total: 2 });
    p({ stage: 'generate', done: 2, total: 2 });
    expect(out.join('')).toBe('\r\x1b[2Kgenerate: 1/2 (50%)\r\x1b[2Kgenerate: 2/2 (100%)\n');
  });

  describe('faces on long work', () => {
    afterEach(() => vi.useRealTimers());
    it('a line per face once the last line is 5 s old; otherwise none (plain)', () => {
      vi.useFakeTimers();
      vi.setSystemTime(0);
      const { out, stream } = fakeStream(false);
      const p = progressRenderer('reconstruct', false, stream);
      p({ stage: 'reconstruct', done: 1, total: 1, source: '/x/group.jpg' });
      p.faces(1, '/x/group.jpg face 0');
      vi.setSystemTime(6000);
      p.faces(2, '/x/group.jpg face 1');
      vi.setSystemTime(7000);
      p.faces(3, '/x/group.jpg face 2');
      expect(out).toEqual(['reconstruct: 1/1 (100%), 2 faces done group.jpg face 1\n']);
    });

    it('work within a batch (detail) after the counts: redrawn at most every 100 ms on a terminal, a heartbeat line otherwise; a finished face clears it', () => {
      vi.useFakeTimers();
      vi.setSystemTime(0);
      const tty = fakeStream(true);
      const t = progressRenderer('encode', false, tty.stream);
      t({ stage: 'encode', done: 1, total: 1, source: '/x/a.png' });
      t.detail('refining 1 face: step 1/100');
      vi.setSystemTime(50);
      t.detail('refining 1 face: step 2/100');
      vi.setSystemTime(200);
      t.detail('refining 1 face: step 3/100');
      t.faces(1, '/x/a.png');
      t.end();
      expect(tty.out.join('')).toBe(
        // A single input alone draws nothing; steps 1 and 2 come within 100 ms of the start.
        '\r\x1b[2Kencode: 1/1 (100%) a.png; refining 1 face: step 3/100\r\x1b[2Kencode: 1/1 (100%), 1 face done a.png\n',
      );
      const plain = fakeStream(false);
      const p = progressRenderer('encode', false, plain.stream);
      p.detail('refining 2 faces: step 1/100');
      vi.setSystemTime(6000);
      p.detail('refining 2 faces: step 90/100');
      expect(plain.out).toEqual(['encode: refining 2 faces: step 90/100\n']);
    });
  });

  it('quiet, or a single item: nothing', () => {
    const { out, stream } = fakeStream(false);
    progressRenderer('x', true, stream)({ stage: 'decode', done: 3, total: 9 });
    progressRenderer('x', false, stream)({ stage: 'decode', done: 1, total: 1 });
    expect(out).toEqual([]);
  });
});

describe('summary line', () => {
  it('says how many inputs were done and names the failures, the first five', () => {
    const fail = (f: string, why: string) => ({ source: f, error: new AlaeError(why, f) });
    expect(summaryLine(13, 13, [])).toBe('13 of 13 inputs done');
    expect(summaryLine(12, 13, [fail('/p/a.jpg', 'no face found')])).toBe('12 of 13 inputs done; failed: a.jpg (no face found)');
    const many = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((x) => fail(`${x}.jpg`, 'unsupported image format'));
    expect(summaryLine(1, 8, many)).toBe(
      '1 of 8 inputs done; failed: a.jpg (unsupported image format), b.jpg (unsupported image format), c.jpg (unsupported image format), d.jpg (unsupported image format), e.jpg (unsupported image format), and 2 more',
    );
    expect(summaryLine(3, 10, [], 'seed', true)).toBe('3 of 10 seeds done (interrupted)');
  });
});

describe('option parsing', () => {
  it('seeds: ranges and lists', () => {
    expect(parseSeeds('1-4')).toEqual([1, 2, 3, 4]);
    expect(parseSeeds('7, 3,10-11')).toEqual([7, 3, 10, 11]);
    expect(() => parseSeeds('4-1')).toThrow(UsageError);
    expect(() => parseSeeds('-3')).toThrow(/bad --seeds/);
  });

  it('list options take every value up to the next option', () => {
    expect(expandListOptions(['--sources', 'a', 'b', '--grid', '--targets', 'c', '--out', 'o'], ['sources', 'targets'])).toEqual([
      '--sources', 'a', '--sources', 'b', '--grid', '--targets', 'c', '--out', 'o',
    ]);
    expect(expandListOptions(['--sources=a', 'x'], ['sources'])).toEqual(['--sources=a', 'x']);
  });

  it('grid rows: the reference 3:2:1 blocks, levels the model has', () => {
    expect(defaultRowLevels(6, 18)).toEqual(['coarse', 'coarse', 'coarse', 'middle', 'middle', 'fine']);
    expect(defaultRowLevels(3, 18)).toEqual(['coarse', 'middle', 'fine']);
    expect(defaultRowLevels(4, 8)).toEqual(['coarse', 'coarse', 'middle', 'fine']); // 32x32: fine is 32x32
    expect(defaultRowLevels(4, 4)).toEqual(['coarse', 'coarse', 'coarse', 'coarse']); // 8x8: coarse only
    expect(defaultRowLevels(1, 18)).toEqual(['coarse']);
  });
});
