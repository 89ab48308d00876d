/**
 * The library API on small models: round trips, mixing, interpolation,
 * determinism by seed, per-input failures, no tensor leaks, and parity of
 * the whole encode path with the reference (imported tiny32 checkpoint).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { useTempDir } from '../temp-dir.js';
import { writeRandomModel } from '../random-model.js';
import { tf } from '../../src/tf.js';
import { AlaeError } from '../../src/errors.js';
import { resolveConfig } from '../../src/config/config.js';
import { AlaeModel } from '../../src/model/alae.js';
import { encodeModelFile } from '../../src/io/model-file.js';
import { encodeNpy } from '../../src/io/npy.js';
import { f32, readSafetensors } from '../../src/io/safetensors.js';
import { createModel, loadDirection, loadModel, type Alae } from '../../src/api/alae.js';
import { broadcastStyles, makeLatents, rowOf, selectRows } from '../../src/api/latents.js';
import { encodePng, readRgb } from '../../src/image/image.js';

const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');
const CELEBA = path.resolve('../shared/faces/celeba-aligned128');
const REF = path.resolve('../shared/alae-reference/tiny32');
const faces = (n: number) => Array.from({ length: n }, (_, i) => path.join(FFHQ, `0000${i}.png`));

const tmp = useTempDir('alae-api-');
let modelFile: string;
let alae: Alae;

beforeAll(async () => {
  await testBackend();
  // test-micro: 16x16, latent 16, 6 style slots (the smallest, for speed).
  modelFile = await writeRandomModel(path.join(tmp.path, 'micro.safetensors'), 'test-micro', 3, { dlatentAvg: 0.5, noise: true });
  // Aligned crops as input: no detector, fast.
  alae = await loadModel(modelFile, { align: 'none', batchSize: 3 });
});

afterAll(async () => {
  alae?.dispose();
});

const bytesOf = (imgs: { data: Uint8Array }[]) => imgs.map((i) => Buffer.from(i.data));
const same = (a: { data: Uint8Array }, b: { data: Uint8Array }) => Buffer.from(a.data).equals(Buffer.from(b.data));

describe('loadModel', () => {
  it('reads our model files and reference checkpoints; encode matches the reference', async () => {
    expect([alae.resolution, alae.latentSize, alae.styleSlots, alae.channels, alae.align]).toEqual([16, 16, 6, 3, 'none']);
    const ref = await loadModel(path.join(REF, 'checkpoint.zip.pth'), { align: 'none' });
    try {
      // The reference encoded these four CelebA crops average-pooled to 32x32 in float.
      const { tensors } = await readSafetensors(path.join(REF, 'expected.safetensors'));
      const want = f32(tensors.get('encode/w')!);
      const got = await ref.encode([0, 1, 2, 3].map((i) => path.join(CELEBA, `0000${i}.png`)));
      expect(got.failures).toEqual([]);
      const scale = Math.max(...want.map(Math.abs));
      want.forEach((v, i) => expect(Math.abs(v - got.latents.data[i])).toBeLessThan(1e-4 * scale));
    } finally {
      ref.dispose();
    }
  });

  it('a model whose config does not match its weights is an AlaeError naming the file', async () => {
    const tinyArrays = await (async () => {
      const m = AlaeModel.create(resolveConfig('test-micro'));
      const a = await m.toArrays();
      m.dispose();
      return a;
    })();
    const bytes = encodeModelFile(resolveConfig('test-micro'), tinyArrays);
    // Same weights, config metadata claiming another architecture.
    // (Same length, so the header stays valid; the config JSON sits escaped inside the metadata.)
    const header = Buffer.from(bytes).toString('latin1');
    expect(header).toContain('\\"latentSize\\":16');
    const lied = Buffer.from(header.replace('\\"latentSize\\":16', '\\"latentSize\\":24'), 'latin1');
    const file = path.join(tmp.path, 'lying.safetensors');
    await writeFile(file, lied);
    const before = tf.memory().numTensors;
    const err = await loadModel(file, { align: 'none' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlaeError);
    expect((err as AlaeError).message).toContain(file);
    expect(tf.memory().numTensors).toBe(before);
    await expect(loadModel(path.join(tmp.path, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors: cannot read the model \(ENOENT\)/);
  });

  it('load and dispose (with the face detector) leave no tensors', async () => {
    const before = tf.memory().numTensors;
    const m = await loadModel(modelFile); // align defaults to ffhq: loads the detector
    expect(m.align).toBe('ffhq');
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await expect(m.decode(makeLatents([new Array(16).fill(0)]))).rejects.toThrow(/disposed/);
    const r = await createModel('test-micro', { align: 'none', seed: 1 });
    expect([r.resolution, r.file]).toEqual([16, 'random test-micro']);
    expect((await r.generate([0]))[0].width).toBe(16);
    r.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('round trips', () => {
  it('encode -> w [faces, latent]; decode -> images at the model size; reconstruct pairs them', async () => {
    const before = tf.memory().numTensors;
    const enc = await alae.encode(faces(4));
    expect([enc.latents.count, enc.latents.size]).toEqual([4, 16]);
    expect(enc.faces.map((f) => path.basename(f.source))).toEqual(['00000.png', '00001.png', '00002.png', '00003.png']);
    const imgs = await alae.decode(enc.latents);
    expect(imgs).toHaveLength(4);
    for (const im of imgs) expect([im.width, im.height, im.channels, im.data.length]).toEqual([16, 16, 3, 16 * 16 * 3]);
    const rec = await alae.reconstruct(faces(2), { seed: 0 });
    expect(rec.faces).toHaveLength(2);
    expect(same(rec.faces[1].reconstruction, imgs[1])).toBe(true);
    expect(rec.faces[0].image.width).toBe(16);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('all input kinds give the same w: path, PNG bytes, raw RGB, raw RGBA', async () => {
    const file = faces(1)[0];
    const rgb = await readRgb(file);
    const rgba = { data: new Uint8Array(rgb.width * rgb.height * 4).fill(255), width: rgb.width, height: rgb.height, channels: 4 };
    for (let i = 0; i < rgb.width * rgb.height; i++) rgba.data.set(rgb.data.subarray(i * 3, i * 3 + 3), i * 4);
    const r = await alae.encode([file, await readFile(file), rgb, rgba, await encodePng(rgb)]);
    expect(r.faces.map((f) => f.source)).toEqual([file, 'image #1', 'image #2', 'image #3', 'image #4']);
    for (let i = 1; i < 5; i++) expect(Array.from(rowOf(r.latents, i))).toEqual(Array.from(rowOf(r.latents, 0)));
  });

  it('batch size does not change results', async () => {
    const one = await alae.encode(faces(3), { batchSize: 1 });
    const three = await alae.encode(faces(3), { batchSize: 3 });
    expect(Array.from(one.latents.data)).toEqual(Array.from(three.latents.data));
    const d1 = await alae.decode(three.latents, { batchSize: 1, seed: 4 });
    const d3 = await alae.decode(three.latents, { batchSize: 3, seed: 4 });
    expect(bytesOf(d1)).toEqual(bytesOf(d3));
  });
});

describe('mixing, interpolation, edits, generation', () => {
  it('mixStyles keeps the target in every slot outside the level', async () => {
    const { latents } = await alae.encode(faces(2));
    const target = selectRows(latents, [0]);
    const source = selectRows(latents, [1]);
    const mixed = alae.mixStyles(target, source, 'coarse');
    const L = 16;
    // A 16x16 model (6 slots): coarse is the 4x4 block, slots 0-1 (api/latents.ts levelRanges).
    for (let k = 0; k < 6; k++) {
      const want = k < 2 ? rowOf(source, 0) : rowOf(target, 0);
      expect(Array.from(mixed.data.subarray(k * L, (k + 1) * L))).toEqual(Array.from(want));
    }
    // Mixing nothing away from the target decodes to the target; mixing changes the picture.
    const [t] = await alae.decode(target);
    const [m] = await alae.decode(mixed);
    const [all] = await alae.decode(alae.mixStyles(target, source, [0, 6]));
    const [s] = await alae.decode(source);
    expect(same(all, s)).toBe(true);
    expect(same(m, t)).toBe(false);
  });

  it('interpolation endpoints decode to decode(a) and decode(b)', async () => {
    const { latents } = await alae.encode(faces(2));
    const a = selectRows(latents, [0]);
    const b = selectRows(latents, [1]);
    const line = alae.interpolate(a, b, 5);
    const strip = await alae.decode(line, { seed: 9 });
    const [da] = await alae.decode(a, { seed: 9 });
    const [db] = await alae.decode(b, { seed: 9 });
    expect(same(strip[0], da)).toBe(true);
    expect(same(strip[4], db)).toBe(true);
    expect(same(strip[2], da)).toBe(false);
  });

  it('same seed, same image; another seed, another image; independent of the batch', async () => {
    const before = tf.memory().numTensors;
    const g1 = await alae.generate([1, 2, 3]);
    const g2 = await alae.generate([3]);
    const g3 = await alae.generate([1, 2, 3]);
    expect(bytesOf(g1)).toEqual(bytesOf(g3));
    expect(same(g1[2], g2[0])).toBe(true);
    expect(same(g1[0], g1[1])).toBe(false);
    // Truncation toward the (non-zero) average changes the result; psi 1 is none.
    const [plain] = await alae.generate([1], { truncation: false });
    const [one] = await alae.generate([1], { truncation: { psi: 1 } });
    expect(same(plain, one)).toBe(true);
    expect(same(plain, g1[0])).toBe(false);
    // Noise: one seed for all rows vs per-row seeds.
    const w = await alae.mapSeeds([5, 5]);
    const [n0, n1] = await alae.decode(w, { seed: [0, 1] });
    expect(same(n0, n1)).toBe(false);
    const [s0, s1] = await alae.decode(w, { seed: 0 });
    expect(same(s0, s1)).toBe(true);
    // noise: false is the same for every seed and differs from seeded noise.
    const [q0] = await alae.decode(selectRows(w, [0]), { noise: false, seed: 1 });
    const [q1] = await alae.decode(selectRows(w, [0]), { noise: false, seed: 2 });
    expect(same(q0, q1)).toBe(true);
    expect(same(q0, s0)).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('edit moves w along a direction read from .npy', async () => {
    const dirFile = path.join(tmp.path, 'd.npy');
    const d = new Float32Array(16).map((_, i) => (i % 2 ? 1 : -1));
    await writeFile(dirFile, encodeNpy([1, 16], d));
    const direction = await loadDirection(dirFile, 16);
    const { latents } = await alae.encode(faces(1));
    const e = alae.edit(latents, direction, 2);
    expect(e.data[0]).toBeCloseTo(latents.data[0] - 2, 5);
    expect(e.data[1]).toBeCloseTo(latents.data[1] + 2, 5);
    await writeFile(dirFile, encodeNpy([2, 16], new Float32Array(32)));
    await expect(loadDirection(dirFile, 16)).rejects.toThrow(/d\.npy: a direction must have shape \[16\] or \[1, 16\]/);
  });

  it('decode takes w or styles and checks them', async () => {
    const w = makeLatents([new Array(16).fill(0.1)]);
    const [fromW] = await alae.decode(w);
    const [fromStyles] = await alae.decode(broadcastStyles(w, 6));
    expect(same(fromW, fromStyles)).toBe(true);
    await expect(alae.decode(makeLatents([new Array(8).fill(0)]))).rejects.toThrow(/size 8/);
    await expect(alae.decode(w, { truncation: { psi: 2 } })).rejects.toThrow(/psi/);
  });
});

describe('bad inputs', () => {
  it('a failing input is reported by name and the rest of the batch goes on', async () => {
    const junk = path.join(tmp.path, 'junk.png');
    await writeFile(junk, 'not a png at all');
    const before = tf.memory().numTensors;
    const seen: string[] = [];
    const progress: number[] = [];
    const r = await alae.encode([faces(1)[0], path.join(tmp.path, 'nope.jpg'), junk, faces(2)[1]], {
      onFailure: (f) => seen.push(f.source),
      onProgress: (p) => progress.push(p.done),
    });
    expect(r.latents.count).toBe(2);
    expect(r.faces.map((f) => path.basename(f.source))).toEqual(['00000.png', '00001.png']);
    expect(r.failures.map((f) => f.error.message)).toEqual([`${path.join(tmp.path, 'nope.jpg')}: cannot read file (ENOENT)`, `${junk}: unsupported image format`]);
    expect(r.failures.every((f) => f.error instanceof AlaeError)).toBe(true);
    expect(seen).toEqual([path.join(tmp.path, 'nope.jpg'), junk]);
    expect(progress).toEqual([1, 2, 3, 4]);
    expect(tf.memory().numTensors).toBe(before);
    await expect(alae.encode([junk], { throwOnError: true })).rejects.toThrow(/junk\.png: unsupported image format/);
  });

  it('raw pixels of the wrong size are named', async () => {
    const r = await alae.encode([{ data: new Uint8Array(10), width: 4, height: 4, channels: 3 }]);
    expect(r.failures[0].error.message).toBe('image #0: raw image is 4x4x3 but has 10 bytes');
  });

  it('gray images feed a colour model', async () => {
    const gray = await sharp(faces(1)[0]).toColourspace('b-w').png().toBuffer();
    const r = await alae.encode([gray]);
    expect(r.latents.count).toBe(1);
    const px = r.faces[0].image.data;
    expect(px[0]).toBe(px[1]);
  });
});
