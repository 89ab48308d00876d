/** FFHQ / CelebA alignment on synthetic images where the answer is known (no detector needed). */
import { describe, expect, it } from 'vitest';
import { alignFace, faceQuad, gaussianBlur, mapToAligned, quadTransform, reflectPad, rint } from '../../src/face/align.js';
import type { Point } from '../../src/face/detect.js';
import type { RawImage } from '../../src/image/image.js';

/** 68 landmarks with both eyes' six points at the given centres and the mouth corners at 48 and 54. */
function landmarks(eyeL: Point, eyeR: Point, mouthL: Point, mouthR: Point): Point[] {
  const lm: Point[] = Array.from({ length: 68 }, () => [0, 0] as Point);
  // Six points around each centre whose mean is the centre.
  const ring = (c: Point, base: number) => {
    const d = [[-6, 0], [-3, -2], [3, -2], [6, 0], [3, 2], [-3, 2]];
    d.forEach(([dx, dy], k) => (lm[base + k] = [c[0] + dx, c[1] + dy]));
  };
  ring(eyeL, 36);
  ring(eyeR, 42);
  lm[48] = mouthL;
  lm[54] = mouthR;
  return lm;
}

function rotate(p: Point, deg: number, c: Point): Point {
  const a = (deg * Math.PI) / 180;
  const dx = p[0] - c[0];
  const dy = p[1] - c[1];
  return [c[0] + dx * Math.cos(a) - dy * Math.sin(a), c[1] + dx * Math.sin(a) + dy * Math.cos(a)];
}

function image(width: number, height: number, fill: number): RawImage {
  return { data: new Uint8Array(width * height * 3).fill(fill), width, height, channels: 3 };
}

/** Paint a disc of one colour. */
function disc(img: RawImage, c: Point, r: number, rgb: [number, number, number]): void {
  for (let y = Math.floor(c[1] - r); y <= Math.ceil(c[1] + r); y++) {
    for (let x = Math.floor(c[0] - r); x <= Math.ceil(c[0] + r); x++) {
      if (x < 0 || y < 0 || x >= img.width || y >= img.height || (x - c[0]) ** 2 + (y - c[1]) ** 2 > r * r) continue;
      img.data.set(rgb, (y * img.width + x) * 3);
    }
  }
}

/**
 * Centroid (pixel indices) of pixels where channel k stands out from the
 * others, within `radius` of `near` (reflect padding mirrors markers near
 * the photo's edge into the padding: those copies are not the marker).
 */
function centroid(img: RawImage, k: number, near: Point = [img.width / 2, img.height / 2], radius = Infinity): Point {
  let sx = 0, sy = 0, sw = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (Math.hypot(x - near[0], y - near[1]) > radius) continue;
      const p = (y * img.width + x) * 3;
      const others = [0, 1, 2].filter((j) => j !== k).map((j) => img.data[p + j]);
      const w = Math.max(0, img.data[p + k] - Math.max(...others));
      sx += w * x;
      sy += w * y;
      sw += w;
    }
  }
  return [sx / sw, sy / sw];
}

describe('faceQuad', () => {
  const lm = landmarks([100, 100], [160, 100], [110, 170], [150, 170]);

  it('builds the FFHQ quad from eyes and mouth', () => {
    const q = faceQuad(lm, 'ffhq');
    expect(q.eyeLeft).toEqual([100, 100]);
    expect(q.eyeRight).toEqual([160, 100]);
    // eye_to_eye (60, 0), eye_to_mouth (0, 70): x = (130, 0) normalised, times max(2*60, 1.8*70) = 126;
    // c = eye_avg + 0.1 * eye_to_mouth = (130, 107).
    const want = [[4, -19], [4, 233], [256, 233], [256, -19]];
    q.quad.forEach((p, i) => {
      expect(p[0]).toBeCloseTo(want[i][0], 9);
      expect(p[1]).toBeCloseTo(want[i][1], 9);
    });
    expect(q.qsize).toBeCloseTo(252, 9);
  });

  it('builds the tighter, lower CelebA quad', () => {
    const q = faceQuad(lm, 'celeba');
    const half = (60 * 1.641 + 70 * 1.56) / 2;
    expect(q.qsize).toBeCloseTo(2 * half, 9);
    const cy = 100 + 70 * 0.317;
    expect((q.quad[0][1] + q.quad[2][1]) / 2).toBeCloseTo(cy, 9);
    expect(q.qsize).toBeLessThan(faceQuad(lm, 'ffhq').qsize);
  });

  it('turns with the face', () => {
    const c: Point = [300, 200];
    const turned = lm.map((p) => rotate(p, 30, c));
    const a = faceQuad(lm);
    const b = faceQuad(turned);
    expect(b.qsize).toBeCloseTo(a.qsize, 9);
    a.quad.forEach((p, i) => {
      const r = rotate(p, 30, c);
      expect(b.quad[i][0]).toBeCloseTo(r[0], 9);
      expect(b.quad[i][1]).toBeCloseTo(r[1], 9);
    });
  });

  it('rejects anything but 68 landmarks', () => {
    expect(() => faceQuad(lm.slice(0, 5))).toThrow(/68 landmarks/);
  });
});

describe('pixel helpers', () => {
  it('rint rounds half to even, as numpy', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(rint)).toEqual([0, 2, 2, -0, -2, 2, 3]);
  });

  it('reflectPad mirrors without repeating the edge (numpy reflect)', () => {
    const img: RawImage = { data: new Uint8Array([0, 1, 2, 3]), width: 4, height: 1, channels: 1 };
    const p = reflectPad(img, 2, 1, 3, 0);
    expect(p.width).toBe(9);
    expect(p.height).toBe(2);
    expect(Array.from(p.data.subarray(0, 9))).toEqual([2, 1, 0, 1, 2, 3, 2, 1, 0]);
    expect(Array.from(p.data.subarray(9))).toEqual([2, 1, 0, 1, 2, 3, 2, 1, 0]);
  });

  it('gaussianBlur keeps constants, spreads an impulse to normalised Gaussian taps', () => {
    const W = 101, H = 101;
    const flat = new Float32Array(W * H * 3).fill(7);
    expect(gaussianBlur(flat, W, H, 3, 3).every((v) => Math.abs(v - 7) < 1e-5)).toBe(true);
    for (const sigma of [2, 12]) {
      // sigma 2: exact taps; sigma 12 (radius 48): the three-box approximation.
      const d = new Float32Array(W * H * 3);
      d[(50 * W + 50) * 3] = 1;
      const b = gaussianBlur(d, W, H, 3, sigma);
      let sum = 0;
      for (let i = 0; i < W * H; i++) sum += b[i * 3];
      expect(sum).toBeCloseTo(1, 4);
      const peak = 1 / (2 * Math.PI * sigma * sigma);
      expect(Math.abs(b[(50 * W + 50) * 3] - peak) / peak).toBeLessThan(sigma === 2 ? 0.01 : 0.1);
      expect(b[(50 * W + 50) * 3 + 1]).toBe(0); // channels stay apart
    }
  });

  it('quadTransform: the image-corner quad is the identity, a turned quad turns the image exactly', () => {
    const img: RawImage = { data: new Uint8Array(4 * 4 * 3), width: 4, height: 4, channels: 3 };
    for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 37) % 251;
    const id = quadTransform(img, [[-0.5, -0.5], [-0.5, 3.5], [3.5, 3.5], [3.5, -0.5]], 4);
    expect(Array.from(id.data)).toEqual(Array.from(img.data));
    // Output top-left samples the source's top-right: a quarter turn counter-clockwise.
    const turned = quadTransform(img, [[3.5, -0.5], [-0.5, -0.5], [-0.5, 3.5], [3.5, 3.5]], 4);
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 4; x++) {
        const src = (x * 4 + (3 - y)) * 3;
        expect(Array.from(turned.data.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3))).toEqual(Array.from(img.data.subarray(src, src + 3)));
      }
    }
  });
});

describe('alignFace', () => {
  /** A face of markers: red left eye, green right eye, blue mouth centre. */
  function face(W: number, H: number, eyeL: Point, eyeR: Point, mouthL: Point, mouthR: Point, r: number) {
    const img = image(W, H, 90);
    disc(img, eyeL, r, [255, 0, 0]);
    disc(img, eyeR, r, [0, 255, 0]);
    const mouth: Point = [(mouthL[0] + mouthR[0]) / 2, (mouthL[1] + mouthR[1]) / 2];
    disc(img, mouth, r, [0, 0, 255]);
    return { img, lm: landmarks(eyeL, eyeR, mouthL, mouthR), mouth };
  }

  async function expectMarkers(f: ReturnType<typeof face>, size: number, mode: 'ffhq' | 'celeba' = 'ffhq') {
    const out = await alignFace(f.img, f.lm, { size, mode });
    expect([out.width, out.height, out.channels]).toEqual([size, size, 3]);
    const fq = faceQuad(f.lm, mode);
    const pts: [Point, number][] = [[fq.eyeLeft, 0], [fq.eyeRight, 1], [f.mouth, 2]];
    for (const [p, k] of pts) {
      const want = mapToAligned(fq, p, size).map((v) => v - 0.5); // continuous -> pixel index
      const got = centroid(out, k, want as Point, 8);
      expect(Math.hypot(got[0] - want[0], got[1] - want[1])).toBeLessThan(0.6);
    }
    return out;
  }

  it('puts eyes and mouth where the quad says (upright face, no padding)', async () => {
    const f = face(640, 480, [280, 200], [360, 200], [292, 290], [348, 290], 8);
    const out = await expectMarkers(f, 64);
    // Eyes level, left eye left of centre: the crop is upright.
    const l = centroid(out, 0);
    const r = centroid(out, 1);
    expect(Math.abs(l[1] - r[1])).toBeLessThan(0.3);
    expect(l[0]).toBeLessThan(32);
    expect(r[0]).toBeGreaterThan(32);
  });

  it('levels a tilted face and shrinks a large one first', async () => {
    const c: Point = [800, 700];
    const pts = ([[720, 620], [880, 620], [745, 800], [855, 800]] as Point[]).map((p) => rotate(p, -25, c));
    const f = face(1600, 1400, pts[0], pts[1], pts[2], pts[3], 16);
    // qsize ~ 620 > 4 * 64: the shrink step runs.
    expect(Math.floor((faceQuad(f.lm).qsize / 64) * 0.5)).toBeGreaterThan(1);
    const out = await expectMarkers(f, 64);
    const l = centroid(out, 0);
    const r = centroid(out, 1);
    expect(Math.abs(l[1] - r[1])).toBeLessThan(0.5);
  });

  it('reflect-pads where the quad leaves the photo (no black corners), unlike padding: false', async () => {
    // A face in the top-left corner: the quad reaches far outside the image.
    const f = face(400, 300, [40, 40], [100, 40], [50, 110], [90, 110], 6);
    const out = await expectMarkers(f, 64);
    const padded = Array.from(out.data.subarray(0, 3));
    // The background is 90 everywhere: padding, blur and median fill keep it 90.
    padded.forEach((v) => expect(Math.abs(v - 90)).toBeLessThanOrEqual(2));
    const bare = await alignFace(f.img, f.lm, { size: 64, padding: false });
    expect(Array.from(bare.data.subarray(0, 3))).toEqual([0, 0, 0]);
  });

  it('celeba mode crops tighter and lower around the same face', async () => {
    const f = face(640, 480, [280, 200], [360, 200], [292, 290], [348, 290], 8);
    await expectMarkers(f, 64, 'celeba');
    const ff = mapToAligned(faceQuad(f.lm, 'ffhq'), [280, 200], 64);
    const cc = mapToAligned(faceQuad(f.lm, 'celeba'), [280, 200], 64);
    // Tighter crop: the eyes sit further apart in the output.
    const eyeDist = (m: 'ffhq' | 'celeba') => mapToAligned(faceQuad(f.lm, m), [360, 200], 64)[0] - mapToAligned(faceQuad(f.lm, m), [280, 200], 64)[0];
    expect(eyeDist('celeba')).toBeGreaterThan(eyeDist('ffhq') * 1.1);
    // Centred further below the eyes (0.317 vs 0.1 of eye-to-mouth): the eyes sit higher.
    expect(cc[1]).toBeLessThan(ff[1] - 3);
  });
});
