/** CLI plumbing of the job commands: progress rendering, seed lists, list options, grid rows. */
import { describe, expect, it } from 'vitest';
import { expandListOptions, parseSeeds, progressRenderer } from '../../src/cli/support.js';
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

  it('quiet, or a single item: nothing', () => {
    const { out, stream } = fakeStream(false);
    progressRenderer('x', true, stream)({ stage: 'decode', done: 3, total: 9 });
    progressRenderer('x', false, stream)({ stage: 'decode', done: 1, total: 1 });
    expect(out).toEqual([]);
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
