/**
 * Damaged and hostile checkpoints: every variant must either load or fail
 * with an AlaeError that names the file; never a RangeError, TypeError or
 * a runaway allocation. Positions are seeded, so failures reproduce.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AlaeError } from '../../src/errors.js';
import { PickleDict, PickleExtension, PickleOpaque, PickleSet, PickleTuple, unpickle, type PickleValue } from '../../src/io/pickle.js';
import {
  CheckpointError,
  TorchTensor,
  flattenStateDicts,
  readTorchCheckpoint,
  scalarToNumber,
  tensorToFloat32,
  type ReadCheckpointOptions,
} from '../../src/io/pth.js';
import { ZipArchive, crc32 } from '../../src/io/zip.js';
import { readReferenceContents } from '../../src/io/import.js';

const REFERENCE = fileURLToPath(new URL('../../../shared/alae-reference/', import.meta.url));
const haveReference = existsSync(`${REFERENCE}tiny32/checkpoint.zip.pth`);

/** mulberry32: a tiny deterministic PRNG, so every run damages the same bytes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Everything reachable from `root`, each once (values may be shared or cyclic). */
function forEachValue(root: PickleValue, fn: (value: PickleValue) => void): void {
  const seen = new Set<object>();
  const todo: PickleValue[] = [root];
  while (todo.length > 0) {
    const value = todo.pop() as PickleValue;
    if (value === null || typeof value !== 'object' || value instanceof Uint8Array) continue;
    if (seen.has(value)) continue;
    seen.add(value);
    fn(value);
    // Loops rather than push(...items): a damaged file may hold lists too long to spread.
    if (Array.isArray(value)) for (const item of value) todo.push(item);
    else if (value instanceof PickleTuple || value instanceof PickleSet) for (const item of value.items) todo.push(item);
    else if (value instanceof PickleDict) {
      for (const item of value.values()) todo.push(item);
      if (value.state !== undefined) todo.push(value.state);
    } else if (value instanceof PickleOpaque) {
      todo.push(value.args);
      if (value.state !== undefined) todo.push(value.state);
    } else if (value instanceof PickleExtension && value.state !== undefined) todo.push(value.state);
  }
}

/** Loads the bytes and touches every tensor; returns whether that succeeded, failing the test on a foreign error. */
function survives(bytes: Uint8Array, name: string, options?: ReadCheckpointOptions): boolean {
  try {
    const root = readTorchCheckpoint(bytes, name, options);
    forEachValue(root, (value) => {
      if (value instanceof TorchTensor) tensorToFloat32(value);
      if (value instanceof PickleDict && value.has('step')) scalarToNumber(value.get('step'), name);
    });
    flattenStateDicts(root, ['models'], name);
    return true;
  } catch (err) {
    return failedCleanly(err, name);
  }
}

/** An AlaeError naming the file, and no internal error; anything else fails the test. */
function failedCleanly(err: unknown, name: string): false {
  if (!(err instanceof AlaeError)) throw new Error(`${name}: foreign error ${(err as Error)?.stack ?? String(err)}`);
  expect(err.message.startsWith(`${name}: `), err.message).toBe(true);
  expect(err.message).not.toContain('internal error');
  return false;
}

function expectRefused(bytes: Uint8Array, name: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    readTorchCheckpoint(bytes, name);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AlaeError);
  expect((caught as Error).message).toMatch(new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
  expect((caught as Error).message).toMatch(pattern);
}

interface Region {
  start: number;
  end: number;
  weight: number;
}

/** Offsets of the structures in a legacy file: pickle ends, then each storage's size field. */
function legacyLayout(bytes: Uint8Array): { pickleEnds: number[]; sizeFields: number[] } {
  const pickleEnds: number[] = [];
  let at = 0;
  for (let i = 0; i < 5; i++) {
    at = unpickle(bytes, { offset: at, persistentLoad: (pid) => pid }).end;
    pickleEnds.push(at);
  }
  const sizeFields: number[] = [];
  while (at < bytes.length) {
    sizeFields.push(at);
    // All storages in the reference files are float32.
    at += 8 + Number(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readBigInt64LE(at)) * 4;
  }
  expect(at).toBe(bytes.length);
  return { pickleEnds, sizeFields };
}

/** Offsets of the structures in a torch zip: data.pkl, local headers, central directory, end records. */
function zipLayout(bytes: Uint8Array): { pkl: [number, number]; locals: number[]; cd: [number, number] } {
  const zip = new ZipArchive(bytes, 'layout');
  const pklEntry = zip.entries.find((e) => e.name.endsWith('/data.pkl'));
  if (!pklEntry) throw new Error('no data.pkl');
  const pkl = zip.read(pklEntry);
  const pklStart = pkl.byteOffset - bytes.byteOffset;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const eocd = bytes.length - 22;
  expect(view.readUInt32LE(eocd)).toBe(0x06054b50);
  const cdOffset = view.readUInt32LE(eocd + 16);
  const cdSize = view.readUInt32LE(eocd + 12);
  return { pkl: [pklStart, pklStart + pkl.length], locals: zip.entries.map((e) => e.localHeaderOffset), cd: [cdOffset, cdOffset + cdSize] };
}

function pick(regions: Region[], random: () => number): number {
  const total = regions.reduce((a, r) => a + r.weight, 0);
  let x = random() * total;
  for (const r of regions) {
    if (x < r.weight) return r.start + Math.floor(random() * (r.end - r.start));
    x -= r.weight;
  }
  const last = regions[regions.length - 1];
  return last.end - 1;
}

function damaged(original: Uint8Array, regions: Region[], random: () => number): Uint8Array {
  const bytes = original.slice();
  const count = 1 + Math.floor(random() * 3);
  for (let i = 0; i < count; i++) {
    const at = pick(regions, random);
    const kind = Math.floor(random() * 4);
    bytes[at] = kind === 0 ? 0x00 : kind === 1 ? 0xff : kind === 2 ? bytes[at] ^ (1 << Math.floor(random() * 8)) : Math.floor(random() * 256);
  }
  return bytes;
}

function evenly(from: number, to: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.floor(from + ((to - from) * (i + 0.5)) / n));
}

describe.skipIf(!haveReference)('damaged checkpoints', () => {
  const cases = [
    { folder: 'tiny32', truncations: 1, flips: 130, seed: 1 },
    { folder: 'fused128', truncations: 0.5, flips: 40, seed: 2 },
  ];

  for (const { folder, truncations, flips, seed } of cases) {
    const legacyPath = `${REFERENCE}${folder}/checkpoint.legacy.pth`;
    const zipPath = `${REFERENCE}${folder}/checkpoint.zip.pth`;

    it(`${folder} legacy: truncations and byte damage load or fail cleanly`, () => {
      const original = new Uint8Array(readFileSync(legacyPath));
      const name = `${folder}-legacy.pth`;
      expect(survives(original, name)).toBe(true);
      const { pickleEnds, sizeFields } = legacyLayout(original);
      const n = original.length;
      const cuts = new Set<number>([0, 1, 2, 3, 12, n - 1, n - 4, n - 8, n - 9]);
      for (const end of pickleEnds) for (const d of [-2, -1, 0, 1, 5]) cuts.add(end + d);
      for (const field of sizeFields.slice(0, 4)) for (const d of [0, 4, 7, 8, 9]) cuts.add(field + d);
      for (const c of evenly(pickleEnds[2], pickleEnds[3], Math.round(20 * truncations))) cuts.add(c);
      for (const c of evenly(pickleEnds[4], n, Math.round(8 * truncations))) cuts.add(c);
      let loaded = 0;
      for (const cut of cuts) {
        // Cutting the storage data loses the end of it: never a success, except not cutting at all.
        if (survives(original.subarray(0, cut), `${name}[:${cut}]`)) loaded++;
      }
      expect(loaded).toBe(0);

      const random = prng(seed);
      const regions: Region[] = [
        { start: 0, end: pickleEnds[2], weight: 1 },
        { start: pickleEnds[2], end: pickleEnds[3], weight: 5 },
        { start: pickleEnds[3], end: pickleEnds[4], weight: 1 },
        ...sizeFields.map((f) => ({ start: f, end: f + 8, weight: 3 / sizeFields.length })),
        { start: pickleEnds[4], end: n, weight: 1 },
      ];
      let survived = 0;
      for (let i = 0; i < flips; i++) if (survives(damaged(original, regions, random), `${name}#${i}`)) survived++;
      // Some damage lands in float data or is benign, most in structure is caught.
      expect(survived).toBeGreaterThan(0);
      expect(survived).toBeLessThan(flips);
    });

    it(`${folder} zip: truncations and byte damage load or fail cleanly`, () => {
      const original = new Uint8Array(readFileSync(zipPath));
      const name = `${folder}-zip.pth`;
      expect(survives(original, name)).toBe(true);
      const { pkl, locals, cd } = zipLayout(original);
      const n = original.length;
      const cuts = new Set<number>([0, 1, 3, 4, 21, 22, 29, 30, 31, pkl[0] - 1, pkl[0], pkl[1], cd[0] - 1, cd[0], cd[0] + 46, cd[1]]);
      for (const d of [1, 2, 20, 21, 22, 23, 42, 43, 98, 99]) cuts.add(n - d);
      for (const c of evenly(pkl[0], pkl[1], Math.round(8 * truncations))) cuts.add(c);
      for (const c of evenly(cd[0], cd[1], Math.round(8 * truncations))) cuts.add(c);
      for (const at of locals.slice(1, 4)) cuts.add(at + 10);
      let loaded = 0;
      for (const cut of cuts) if (survives(original.subarray(0, cut), `${name}[:${cut}]`)) loaded++;
      expect(loaded).toBe(0);

      const random = prng(seed + 100);
      const regions: Region[] = [
        { start: pkl[0], end: pkl[1], weight: 4 },
        { start: cd[0], end: cd[1], weight: 3 },
        { start: cd[1], end: n, weight: 1.5 },
        ...locals.slice(0, 8).map((at) => ({ start: at, end: at + 64, weight: 0.1 })),
        { start: 0, end: n, weight: 1 },
      ];
      let survived = 0;
      for (let i = 0; i < flips; i++) {
        // Half without CRC checks, so the damaged pickle itself reaches the unpickler.
        const verifyCrc = i % 2 === 0;
        if (survives(damaged(original, regions, random), `${name}#${i}`, { verifyCrc })) survived++;
      }
      expect(survived).toBeLessThan(flips);
    });
  }
});

describe.skipIf(!haveReference)('damaged checkpoints, header only (alae info)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'alae-fuzz-'));

  /** Reads the header of `bytes` from a file; false on an AlaeError naming it, a foreign error fails the test. */
  async function headerSurvives(bytes: Uint8Array, name: string): Promise<boolean> {
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    try {
      await readReferenceContents(file);
      return true;
    } catch (err) {
      return failedCleanly(err, file);
    }
  }

  it('tiny32 legacy and zip: cut or damaged headers read or fail cleanly; cut data does not matter', async () => {
    const legacy = new Uint8Array(readFileSync(`${REFERENCE}tiny32/checkpoint.legacy.pth`));
    const { pickleEnds, sizeFields } = legacyLayout(legacy);
    const random = prng(7);
    let survived = 0;
    for (const cut of [1, 12, pickleEnds[2], pickleEnds[3] - 1]) expect(await headerSurvives(legacy.subarray(0, cut), `legacy-cut-${cut}.pth`)).toBe(false);
    // Past the main pickle only the storages' data is cut: the header still reads (while every storage fits the rest).
    expect(await headerSurvives(legacy.subarray(0, sizeFields[0] + 200_000), 'legacy-data-cut.pth')).toBe(true);
    const legacyRegions: Region[] = [{ start: 0, end: pickleEnds[3], weight: 1 }];
    for (let i = 0; i < 20; i++) if (await headerSurvives(damaged(legacy, legacyRegions, random), `legacy-${i}.pth`)) survived++;
    const zip = new Uint8Array(readFileSync(`${REFERENCE}tiny32/checkpoint.zip.pth`));
    const { pkl, cd } = zipLayout(zip);
    for (const cut of [3, pkl[1], cd[0] + 46, zip.length - 1]) expect(await headerSurvives(zip.subarray(0, cut), `zip-cut-${cut}.pth`)).toBe(false);
    const zipRegions: Region[] = [
      { start: pkl[0], end: pkl[1], weight: 2 },
      { start: cd[0], end: zip.length, weight: 2 },
    ];
    for (let i = 0; i < 20; i++) if (await headerSurvives(damaged(zip, zipRegions, random), `zip-${i}.pth`)) survived++;
    expect(survived).toBeLessThan(40);
  });
});

describe.skipIf(!haveReference)('hostile headers', () => {
  const legacy = new Uint8Array(readFileSync(`${REFERENCE}tiny32/checkpoint.legacy.pth`));
  const zip = new Uint8Array(readFileSync(`${REFERENCE}tiny32/checkpoint.zip.pth`));

  it('a BINBYTES claiming 2^31 bytes', () => {
    const { pickleEnds } = legacyLayout(legacy);
    const evil = Buffer.concat([legacy.subarray(0, pickleEnds[2]), Buffer.from([0x80, 3, 0x42, 0, 0, 0, 0x80, 1, 2, 3, 0x2e])]);
    expectRefused(evil, 'evil.pth', /BINBYTES at offset \d+: length 2147483648 exceeds/);
  });

  it('a zip entry claiming 4 GiB uncompressed', () => {
    const { cd } = zipLayout(zip);
    const evil = zip.slice();
    const view = Buffer.from(evil.buffer);
    expect(view.readUInt32LE(cd[0])).toBe(0x02014b50);
    view.writeUInt16LE(8, cd[0] + 10); // deflate
    view.writeUInt32LE(0xfffffffe, cd[0] + 24); // uncompressed size
    expectRefused(evil, 'evil.pth', /claims 4294967294 uncompressed bytes/);
  });

  it('a storage numel beyond its data (zip, CRC fixed up)', () => {
    const { pkl, cd } = zipLayout(zip);
    const evil = zip.slice();
    const pattern = Buffer.from('X\x03\x00\x00\x00cpuq\x0bK\x30t', 'latin1');
    const at = Buffer.from(evil.buffer).indexOf(pattern, pkl[0]);
    expect(at).toBeGreaterThan(0);
    evil[at + pattern.length - 2] = 0xff; // K 48 -> K 255
    Buffer.from(evil.buffer).writeUInt32LE(crc32(evil.subarray(pkl[0], pkl[1])), cd[0] + 16);
    expectRefused(evil, 'evil.pth', /BINPERSID at offset \d+: storage "0" declares 255 x 4 bytes but its entry holds 192/);
  });

  it('a storage numel beyond its data (legacy)', () => {
    const evil = legacy.slice();
    const pattern = Buffer.from('X\x03\x00\x00\x00cpuq\x0bK\x30N', 'latin1');
    const at = Buffer.from(evil.buffer).indexOf(pattern);
    expect(at).toBeGreaterThan(0);
    evil[at + pattern.length - 2] = 0xff;
    expectRefused(evil, 'evil.pth', /has 48 elements, but the pickle declared 255/);
  });

  it('legacy storage size fields of 2^62, -1 and 2^63-1', () => {
    const { sizeFields } = legacyLayout(legacy);
    for (const [value, pattern] of [
      [2n ** 62n, /claims 4611686018427387904 elements; only \d+ bytes are left/],
      [-1n, /claims -1 elements/],
      [2n ** 63n - 1n, /claims 9223372036854775807 elements/],
    ] as const) {
      const evil = legacy.slice();
      Buffer.from(evil.buffer).writeBigInt64LE(value, sizeFields[0]);
      expectRefused(evil, 'evil.pth', pattern);
    }
  });

  it('zip directories that lie about their entries', () => {
    const n = zip.length;
    const patch = (fn: (view: Buffer) => void): Uint8Array => {
      const evil = zip.slice();
      fn(Buffer.from(evil.buffer));
      return evil;
    };
    expectRefused(patch((v) => v.writeUInt16LE(0xfffe, n - 22 + 10)), 'evil.pth', /cannot hold 65534 entries/);
    expectRefused(patch((v) => v.writeUInt32LE(0xfffffff0, n - 22 + 16)), 'evil.pth', /central directory .* lies outside/);
    expectRefused(patch((v) => v.writeUInt32LE(0, n - 22 - 20 - 56)), 'evil.pth', /ZIP64 end record has a bad signature/);
    const { cd } = zipLayout(zip);
    expectRefused(patch((v) => v.writeUInt32LE(0x7fffffff, cd[0] + 42)), 'evil.pth', /local header offset/);
    expectRefused(patch((v) => v.writeUInt16LE(0xffff, cd[0] + 28)), 'evil.pth', /runs past the directory/);
  });

  it('only AlaeErrors come out, and CheckpointError for semantic problems', () => {
    expectRefused(Uint8Array.of(0x80, 2, 0x4b, 1, 0x2e), 'tiny.pth', /bad legacy magic number/);
    try {
      readTorchCheckpoint(Uint8Array.of(0x80, 2, 0x4b, 1, 0x2e), 'tiny.pth');
    } catch (err) {
      expect(err).toBeInstanceOf(CheckpointError);
    }
  });
});
