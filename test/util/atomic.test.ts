import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtomicFile, writeFileAtomic, writeFileAtomicSync } from '../../src/util/atomic.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'alae-atomic-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);

describe('writeFileAtomic', () => {
  it('creates a file with bytes or UTF-8 text', async () => {
    const p = join(dir, 'a.bin');
    await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(p)]).toEqual([1, 2, 3]);
    await writeFileAtomic(p, 'héllo ✓');
    expect(readFileSync(p, 'utf8')).toBe('héllo ✓');
    writeFileAtomicSync(p, 'sync');
    expect(readFileSync(p, 'utf8')).toBe('sync');
    expect(readdirSync(dir)).toEqual(['a.bin']);
  });

  it('replaces an existing file whole (no leftover tail) and keeps its mode', async () => {
    const p = join(dir, 'x.dat');
    writeFileSync(p, fill(100_000, 7));
    if (process.platform !== 'win32') chmodSync(p, 0o640);
    await writeFileAtomic(p, fill(10, 9));
    expect(Buffer.from(readFileSync(p)).equals(Buffer.from(fill(10, 9)))).toBe(true);
    if (process.platform !== 'win32') expect(statSync(p).mode & 0o777).toBe(0o640);
    writeFileAtomicSync(p, fill(3, 1));
    expect([...readFileSync(p)]).toEqual([1, 1, 1]);
    if (process.platform !== 'win32') expect(statSync(p).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['x.dat']);
  });

  it('concurrent writers: the result is exactly one complete write, no temp files remain', async () => {
    const p = join(dir, 'race.bin');
    const N = 24;
    const payloads = Array.from({ length: N }, (_, i) => fill(50_000 + i * 1_000, i + 1));
    await Promise.all(payloads.map((b) => writeFileAtomic(p, b)));
    const got = readFileSync(p);
    const v = got[0];
    expect(v).toBeGreaterThanOrEqual(1);
    expect(v).toBeLessThanOrEqual(N);
    expect(Buffer.from(got).equals(Buffer.from(payloads[v - 1]))).toBe(true);
    expect(readdirSync(dir)).toEqual(['race.bin']);
  });

  it('a missing target directory fails and leaves nothing behind', async () => {
    const p = join(dir, 'no', 'such', 'dir', 'f.bin');
    await expect(writeFileAtomic(p, fill(10, 1))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => writeFileAtomicSync(p, fill(10, 1))).toThrow();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failing rename (target is a directory) removes the temp file and rethrows', async () => {
    const target = join(dir, 'taken');
    mkdirSync(target);
    writeFileSync(join(target, 'inner'), 'keep');
    await expect(writeFileAtomic(target, fill(1000, 3))).rejects.toThrow();
    expect(() => writeFileAtomicSync(target, fill(1000, 3))).toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
    expect(readFileSync(join(target, 'inner'), 'utf8')).toBe('keep');
  });

  it('AtomicFile: a streamed write appears whole on commit; abort leaves the old file', async () => {
    const p = join(dir, 'stream.bin');
    writeFileSync(p, 'old');
    const f = await AtomicFile.open(p);
    await f.handle.write(fill(10, 1));
    await f.handle.write(fill(5, 2));
    expect(readFileSync(p, 'utf8')).toBe('old');
    await f.commit();
    expect([...readFileSync(p)]).toEqual([...fill(10, 1), ...fill(5, 2)]);
    const g = await AtomicFile.open(p);
    await g.handle.write('half');
    await g.abort();
    await g.abort();
    expect([...readFileSync(p)]).toEqual([...fill(10, 1), ...fill(5, 2)]);
    expect(readdirSync(dir)).toEqual(['stream.bin']);
  });
});
