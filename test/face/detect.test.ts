/**
 * Face detection with face-api on alae's tfjs: the engine is shared, the
 * backend is left alone, real faces are found and aligned FFHQ-style.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../setup-backend.js';
import { tf } from '../../src/tf.js';
import { AlaeError } from '../../src/errors.js';
import { FaceDetector, loadFaceApi } from '../../src/face/detect.js';
import { faceQuad } from '../../src/face/align.js';
import { extractFaces } from '../../src/face/faces.js';
import { readRgb, writePng, type RawImage } from '../../src/image/image.js';

const FFHQ = path.resolve('../shared/faces/ffhq-aligned256');
const SAMPLES = path.join(path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');

let detector: FaceDetector;
let backend: string;
let tmp: string;

beforeAll(async () => {
  await testBackend();
  backend = tf.getBackend();
  detector = FaceDetector.load();
  tmp = await mkdtemp(path.join(tmpdir(), 'alae-face-'));
});

afterAll(async () => {
  detector?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('face-api on our tfjs', () => {
  it('shares our tfjs engine and leaves the backend as it was', async () => {
    const api = loadFaceApi();
    expect(api.tf.engine()).toBe(tf.engine());
    expect(tf.getBackend()).toBe(backend);
    expect(tf.getBackend()).not.toBe('webgl');
    await detector.detect(await readRgb(path.join(FFHQ, '00000.png')));
    expect(tf.getBackend()).toBe(backend);
  });

  it('leaves no tensors behind, and dispose() frees the networks', async () => {
    const img = await readRgb(path.join(FFHQ, '00001.png'));
    const before = tf.memory().numTensors;
    const faces = await detector.detect(img);
    expect(faces.length).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    const d = FaceDetector.load();
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    d.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await expect(d.detect(img)).rejects.toThrow(AlaeError);
  });
});

describe('alignment of real faces', () => {
  it('re-aligning FFHQ crops gives back the same crop (eye centres within 2% of the size)', async () => {
    const files = (await readdir(FFHQ)).filter((f) => f.endsWith('.png')).sort().slice(0, 4);
    let worst = 0;
    for (const f of files) {
      const file = path.join(FFHQ, f);
      const input = await readRgb(file);
      const [before] = await detector.detect(input);
      const [crop] = await extractFaces(file, detector, { size: 256, channels: 3, align: 'ffhq', faces: 'largest' });
      expect([crop.image.width, crop.image.height]).toEqual([256, 256]);
      const [after] = await detector.detect(crop.image);
      const a = faceQuad(before.landmarks);
      const b = faceQuad(after.landmarks);
      for (const [p, q] of [[a.eyeLeft, b.eyeLeft], [a.eyeRight, b.eyeRight]]) worst = Math.max(worst, Math.hypot(p[0] - q[0], p[1] - q[1]));
    }
    // 2% of 256 = 5.1 px (face-api's landmarks are not dlib's: measured worst ~4.5 px).
    expect(worst).toBeLessThan(0.02 * 256);
  });

  it("finds every face in face-api's own sample photos and writes the aligned crops", async () => {
    // sample1..6.jpg, 1920 wide group photos; counts checked by eye against the photos.
    const expected = [3, 3, 3, 4, 5, 4];
    const counts: number[] = [];
    for (let i = 1; i <= 6; i++) {
      const file = path.join(SAMPLES, `sample${i}.jpg`);
      const crops = await extractFaces(file, detector, { size: 64, channels: 3, align: 'ffhq' });
      counts.push(crops.length);
      crops.forEach((c, k) => {
        expect(c.face).toBe(k);
        expect(c.source).toBe(file);
        expect(c.landmarks).toHaveLength(68);
      });
      // Reading order: left to right.
      for (let k = 1; k < crops.length; k++) expect(crops[k].box!.x).toBeGreaterThanOrEqual(crops[k - 1].box!.x);
      for (const c of crops) await writePng(path.join(tmp, `sample${i}_${c.face}.png`), c.image);
    }
    expect(counts).toEqual(expected);
    const written = (await readdir(tmp)).filter((f) => f.startsWith('sample'));
    expect(written).toHaveLength(22);
    const meta = await sharp(path.join(tmp, 'sample5_4.png')).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([64, 64, 3]);
  });

  it('only the largest face when asked', async () => {
    const file = path.join(SAMPLES, 'sample5.jpg');
    const [one, ...rest] = await extractFaces(file, detector, { size: 32, channels: 3, align: 'ffhq', faces: 'largest' });
    expect(rest).toHaveLength(0);
    const all = await extractFaces(file, detector, { size: 32, channels: 3, align: 'ffhq' });
    const area = (c: typeof one) => c.box!.width * c.box!.height;
    expect(Math.max(...all.map(area))).toBe(area(one));
  });

  it('respects EXIF orientation', async () => {
    // A sideways-stored JPEG (rotated a quarter turn back) tagged "rotate 90 to display".
    const upright = await sharp(path.join(FFHQ, '00002.png')).extract({ left: 0, top: 20, width: 256, height: 200 }).png().toBuffer();
    const stored = await sharp(upright).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(stored).metadata()).width).toBe(200);
    const img = await readRgb(stored, 'rotated.jpg');
    expect([img.width, img.height]).toEqual([256, 200]);
    const [face] = await detector.detect(img);
    const q = faceQuad(face.landmarks);
    // Upright: eyes level, left eye on the left.
    expect(q.eyeLeft[0]).toBeLessThan(q.eyeRight[0]);
    expect(Math.abs(q.eyeLeft[1] - q.eyeRight[1])).toBeLessThan(10);
  });

  it('converts RGBA and grayscale photos to the channels the model wants', async () => {
    const rgb = await readRgb(path.join(FFHQ, '00003.png'));
    const rgba: RawImage = { data: new Uint8Array(rgb.width * rgb.height * 4), width: rgb.width, height: rgb.height, channels: 4 };
    for (let i = 0; i < rgb.width * rgb.height; i++) {
      rgba.data.set(rgb.data.subarray(i * 3, i * 3 + 3), i * 4);
      rgba.data[i * 4 + 3] = 128;
    }
    const rgbaPng = await sharp(rgba.data, { raw: { width: rgba.width, height: rgba.height, channels: 4 } }).png().toBuffer();
    const fromPng = await readRgb(rgbaPng, 'rgba.png');
    expect(fromPng.channels).toBe(3);
    expect(Buffer.from(fromPng.data).equals(Buffer.from(rgb.data))).toBe(true); // alpha dropped, colour kept

    const grayPng = await sharp(path.join(FFHQ, '00003.png')).toColourspace('b-w').png().toBuffer();
    expect((await sharp(grayPng).metadata()).channels).toBe(1);
    const [colour] = await extractFaces(grayPng, detector, { size: 32, channels: 3, align: 'ffhq' }, 'gray.png');
    expect(colour.image.channels).toBe(3);
    for (let i = 0; i < 32 * 32; i++) {
      expect(colour.image.data[i * 3]).toBe(colour.image.data[i * 3 + 1]);
      expect(colour.image.data[i * 3 + 1]).toBe(colour.image.data[i * 3 + 2]);
    }
    const [gray] = await extractFaces(rgbaPng, detector, { size: 32, channels: 1, align: 'ffhq' }, 'rgba.png');
    expect([gray.image.width, gray.image.channels]).toEqual([32, 1]);
  });

  it('a picture without a face is an AlaeError naming the file', async () => {
    const flat = await sharp({ create: { width: 200, height: 150, channels: 3, background: { r: 120, g: 130, b: 140 } } }).png().toBuffer();
    const err = await extractFaces(flat, detector, { size: 32, channels: 3, align: 'ffhq' }, 'wall.png').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AlaeError);
    expect((err as AlaeError).file).toBe('wall.png');
    expect((err as AlaeError).message).toMatch(/^wall\.png: no face found/);
    // Without alignment the same picture is just resized.
    const [crop] = await extractFaces(flat, null, { size: 32, channels: 3, align: 'none' }, 'wall.png');
    expect(Array.from(crop.image.data.subarray(0, 3))).toEqual([120, 130, 140]);
  });
});
