/**
 * Face alignment from 68 landmarks, step for step the FFHQ procedure the
 * reference ships as align_faces.py (itself the FFHQ dataset script):
 *
 *   1. eye centres = mean of landmarks 36-41 and 42-47; mouth corners 48, 54;
 *   2. an oriented square ("quad") around eyes and mouth;
 *   3. shrink the photo when the quad is much bigger than the output;
 *   4. crop to the quad plus a border;
 *   5. where the quad leaves the photo: reflect-pad, blur the padding towards
 *      the borders and fade it to the median colour (the mask blend);
 *   6. sample the quad onto a `transformSize` square (bilinear, PIL's QUAD
 *      transform), then Lanczos-downscale to the output size.
 *
 * Two variants, both in the reference's align_faces.py:
 *   - 'ffhq' (`use_1024 = True`): x scaled by max(2 |eye_to_eye|, 1.8 |eye_to_mouth|),
 *     centre eye_avg + 0.1 eye_to_mouth. FFHQ and CelebA-HQ (whose dataset
 *     script this is the successor of, same quad) were cropped this way.
 *   - 'celeba' (`use_1024 = False`, what produced the reference's
 *     `realign128x128` CelebA samples): x scaled by
 *     (1.6410 |eye_to_eye| + 1.560 |eye_to_mouth|) / 2, centre
 *     eye_avg + 0.317 eye_to_mouth: a tighter crop, lower on the face.
 *
 * The reference aligns at 1024 (transform 4096) or 128 (transform 512) and
 * downscales; we align straight at the model's resolution with the same
 * 4x supersampling ratio, which gives the same geometry for less work.
 */
import { AlaeError } from '../errors.js';
import { crop, resize, type RawImage } from '../image/image.js';
import type { Point } from './detect.js';

export type AlignMode = 'ffhq' | 'celeba';

export interface FaceQuad {
  /** Corners in the order PIL's QUAD transform takes them: top-left, bottom-left, bottom-right, top-right. */
  quad: [Point, Point, Point, Point];
  /** Side length of the quad in pixels. */
  qsize: number;
  eyeLeft: Point;
  eyeRight: Point;
  mouthLeft: Point;
  mouthRight: Point;
}

export interface AlignOptions {
  /** Output side in pixels (the model's resolution). */
  size: number;
  /** 'ffhq' (default) or 'celeba'. */
  mode?: AlignMode;
  /** Supersampled transform side (default 4 * size, the reference's ratio). */
  transformSize?: number;
  /** Reflect-pad where the quad leaves the image (default true, as the reference). */
  padding?: boolean;
}

const mean = (pts: Point[]): Point => [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];

/** numpy's rint: round half to even. */
export function rint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Eye centres, mouth corners and the oriented crop square for a face. */
export function faceQuad(landmarks: readonly Point[], mode: AlignMode = 'ffhq'): FaceQuad {
  if (landmarks.length !== 68) throw new AlaeError(`alignment needs 68 landmarks (got ${landmarks.length})`);
  const eyeLeft = mean(landmarks.slice(36, 42));
  const eyeRight = mean(landmarks.slice(42, 48));
  const mouthLeft: Point = [landmarks[48][0], landmarks[48][1]];
  const mouthRight: Point = [landmarks[54][0], landmarks[54][1]];
  const eyeAvg: Point = [(eyeLeft[0] + eyeRight[0]) / 2, (eyeLeft[1] + eyeRight[1]) / 2];
  const e2e: Point = [eyeRight[0] - eyeLeft[0], eyeRight[1] - eyeLeft[1]];
  const mouthAvg: Point = [(mouthLeft[0] + mouthRight[0]) / 2, (mouthLeft[1] + mouthRight[1]) / 2];
  const e2m: Point = [mouthAvg[0] - eyeAvg[0], mouthAvg[1] - eyeAvg[1]];
  // x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1]
  let x: Point = [e2e[0] + e2m[1], e2e[1] - e2m[0]];
  const hx = Math.hypot(x[0], x[1]);
  if (!(hx > 0)) throw new AlaeError('degenerate landmarks: eyes and mouth coincide');
  x = [x[0] / hx, x[1] / hx];
  const ee = Math.hypot(e2e[0], e2e[1]);
  const em = Math.hypot(e2m[0], e2m[1]);
  const scale = mode === 'ffhq' ? Math.max(ee * 2.0, em * 1.8) : (ee * 1.641 + em * 1.56) / 2.0;
  x = [x[0] * scale, x[1] * scale];
  const y: Point = [-x[1], x[0]]; // flipud(x) * [-1, 1]
  const k = mode === 'ffhq' ? 0.1 : 0.317;
  const c: Point = [eyeAvg[0] + e2m[0] * k, eyeAvg[1] + e2m[1] * k];
  const quad: [Point, Point, Point, Point] = [
    [c[0] - x[0] - y[0], c[1] - x[1] - y[1]],
    [c[0] - x[0] + y[0], c[1] - x[1] + y[1]],
    [c[0] + x[0] + y[0], c[1] + x[1] + y[1]],
    [c[0] + x[0] - y[0], c[1] + x[1] - y[1]],
  ];
  return { quad, qsize: Math.hypot(x[0], x[1]) * 2, eyeLeft, eyeRight, mouthLeft, mouthRight };
}

/** Index into [0, n) by whole-sample mirroring (numpy pad 'reflect': d c b | a b c d | c b a). */
function mirrorWhole(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

/** Index into [0, n) by half-sample mirroring (scipy.ndimage 'reflect': b a | a b c d | d c). */
function mirrorHalf(i: number, n: number): number {
  const period = 2 * n;
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

/** Reflect-pad an RGB image into float32 (np.pad(img, ..., 'reflect')). */
export function reflectPad(img: RawImage, left: number, top: number, right: number, bottom: number): { data: Float32Array; width: number; height: number } {
  const c = img.channels;
  const W = img.width + left + right;
  const H = img.height + top + bottom;
  const out = new Float32Array(W * H * c);
  const xs = new Int32Array(W);
  for (let x = 0; x < W; x++) xs[x] = mirrorWhole(x - left, img.width);
  for (let y = 0; y < H; y++) {
    const sy = mirrorWhole(y - top, img.height);
    const srow = sy * img.width * c;
    const drow = y * W * c;
    for (let x = 0; x < W; x++) {
      const s = srow + xs[x] * c;
      const d = drow + x * c;
      for (let k = 0; k < c; k++) out[d + k] = img.data[s + k];
    }
  }
  return { data: out, width: W, height: H };
}

/** Normalised 1-D Gaussian taps, as scipy.ndimage.gaussian_filter1d (truncate 4). */
function gaussianTaps(sigma: number): Float64Array {
  const r = Math.floor(4 * sigma + 0.5);
  const w = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += w[i + r] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  for (let i = 0; i < w.length; i++) w[i] /= s;
  return w;
}

/** Largest radius filtered with exact taps; wider blurs use three box passes. */
const EXACT_GAUSSIAN_MAX_RADIUS = 40;

/** One separable pass of `taps` along rows (axis 'x') or columns ('y'), half-sample reflect at the edges. */
function convolveAxis(src: Float32Array, W: number, H: number, c: number, taps: Float64Array, axis: 'x' | 'y'): Float32Array {
  const out = new Float32Array(src.length);
  const r = (taps.length - 1) / 2;
  const n = axis === 'x' ? W : H;
  const lines = axis === 'x' ? H : W;
  const stride = axis === 'x' ? c : W * c;
  const lineStride = axis === 'x' ? W * c : c;
  const idx = new Int32Array(n + 2 * r);
  for (let i = 0; i < idx.length; i++) idx[i] = mirrorHalf(i - r, n) * stride;
  const acc = new Float64Array(c);
  for (let l = 0; l < lines; l++) {
    const base = l * lineStride;
    for (let i = 0; i < n; i++) {
      acc.fill(0);
      for (let t = 0; t < taps.length; t++) {
        const p = base + idx[i + t];
        const wt = taps[t];
        for (let k = 0; k < c; k++) acc[k] += wt * src[p + k];
      }
      const o = base + i * stride;
      for (let k = 0; k < c; k++) out[o + k] = acc[k];
    }
  }
  return out;
}

/** Running-sum box filter of width 2r+1 along one axis (half-sample reflect at the edges). */
function boxAxis(src: Float32Array, W: number, H: number, c: number, r: number, axis: 'x' | 'y'): Float32Array {
  const out = new Float32Array(src.length);
  const n = axis === 'x' ? W : H;
  const lines = axis === 'x' ? H : W;
  const stride = axis === 'x' ? c : W * c;
  const lineStride = axis === 'x' ? W * c : c;
  const inv = 1 / (2 * r + 1);
  const acc = new Float64Array(c);
  for (let l = 0; l < lines; l++) {
    const base = l * lineStride;
    acc.fill(0);
    for (let i = -r; i <= r; i++) {
      const p = base + mirrorHalf(i, n) * stride;
      for (let k = 0; k < c; k++) acc[k] += src[p + k];
    }
    for (let i = 0; i < n; i++) {
      const o = base + i * stride;
      for (let k = 0; k < c; k++) out[o + k] = acc[k] * inv;
      const add = base + mirrorHalf(i + r + 1, n) * stride;
      const sub = base + mirrorHalf(i - r, n) * stride;
      for (let k = 0; k < c; k++) acc[k] += src[add + k] - src[sub + k];
    }
  }
  return out;
}

/**
 * scipy.ndimage.gaussian_filter(img, [sigma, sigma, 0]) (mode 'reflect',
 * truncate 4). Exact up to radius 40; beyond, three box passes of matching
 * variance (within a few percent of the Gaussian, O(1) per pixel): such
 * blurs only touch the synthetic padding of very large faces, and exact
 * taps there would cost billions of operations.
 */
export function gaussianBlur(data: Float32Array, W: number, H: number, c: number, sigma: number): Float32Array {
  if (!(sigma > 0)) return data.slice();
  const taps = gaussianTaps(sigma);
  if ((taps.length - 1) / 2 <= EXACT_GAUSSIAN_MAX_RADIUS) {
    return convolveAxis(convolveAxis(data, W, H, c, taps, 'y'), W, H, c, taps, 'x');
  }
  // Three box passes whose variances add up to sigma^2: widths wl or wl + 2
  // (odd, so centred), m passes of the smaller (Kovesi's construction).
  const n = 3;
  let wl = Math.floor(Math.sqrt((12 * sigma * sigma) / n + 1));
  if (wl % 2 === 0) wl--;
  const m = Math.round((12 * sigma * sigma - n * wl * wl - 4 * n * wl - 3 * n) / (-4 * wl - 4));
  const radii = [0, 1, 2].map((i) => ((i < m ? wl : wl + 2) - 1) / 2);
  let out = data;
  for (const r of radii) out = boxAxis(out, W, H, c, r, 'y');
  for (const r of radii) out = boxAxis(out, W, H, c, r, 'x');
  return out;
}

/** k-th smallest of a (copied) array: quickselect. */
function kth(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

/** Per-channel median over all pixels (np.median(img, axis=(0, 1))). */
function channelMedian(data: Float32Array, c: number): number[] {
  const n = data.length / c;
  const out: number[] = [];
  for (let k = 0; k < c; k++) {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = data[i * c + k];
    const hi = kth(v, n >> 1);
    if (n % 2 === 1) {
      out.push(hi);
    } else {
      // The other middle value is the largest of the lower half.
      let lo = -Infinity;
      for (let i = 0; i < n >> 1; i++) if (v[i] > lo) lo = v[i];
      out.push((lo + hi) / 2);
    }
  }
  return out;
}

/**
 * Sample the quad (top-left, bottom-left, bottom-right, top-right, in pixel
 * coordinates) onto a size x size image, as PIL's `Image.transform(QUAD,
 * BILINEAR)` with the reference's `quad + 0.5`: each output pixel centre
 * maps bilinearly through the quad (an affine map when the quad is a
 * parallelogram, as FFHQ quads are); source pixels are interpolated
 * bilinearly with edge clamping; points outside the image are black.
 */
export function quadTransform(img: RawImage, quad: readonly Point[], size: number): RawImage {
  const [nw, sw, se, ne] = quad;
  const c = img.channels;
  const { width: W, height: H, data } = img;
  const out = new Uint8Array(size * size * c);
  const ax = ne[0] - nw[0], ay = ne[1] - nw[1];
  const bx = sw[0] - nw[0], by = sw[1] - nw[1];
  const cx = se[0] - sw[0] - ne[0] + nw[0], cy = se[1] - sw[1] - ne[1] + nw[1];
  for (let j = 0; j < size; j++) {
    const v = (j + 0.5) / size;
    for (let i = 0; i < size; i++) {
      const u = (i + 0.5) / size;
      // Source point in PIL's continuous coordinates (pixel k spans [k, k+1)).
      const xin = nw[0] + 0.5 + ax * u + bx * v + cx * u * v;
      const yin = nw[1] + 0.5 + ay * u + by * v + cy * u * v;
      const o = (j * size + i) * c;
      if (xin < 0 || xin >= W || yin < 0 || yin >= H) continue;
      const xs = xin - 0.5;
      const ys = yin - 0.5;
      const x0 = Math.floor(xs);
      const y0 = Math.floor(ys);
      const dx = xs - x0;
      const dy = ys - y0;
      const xa = Math.min(Math.max(x0, 0), W - 1) * c;
      const xb = Math.min(Math.max(x0 + 1, 0), W - 1) * c;
      const ya = Math.min(Math.max(y0, 0), H - 1) * W * c;
      const yb = y0 + 1 < H ? (y0 + 1) * W * c : ya;
      for (let k = 0; k < c; k++) {
        const top = data[ya + xa + k] + (data[ya + xb + k] - data[ya + xa + k]) * dx;
        const bot = data[yb + xa + k] + (data[yb + xb + k] - data[yb + xa + k]) * dx;
        // PIL truncates the interpolated value to the 8-bit result.
        out[o + k] = Math.trunc(top + (bot - top) * dy);
      }
    }
  }
  return { data: out, width: size, height: size, channels: c };
}

/** Align one face of an RGB image: the square crop at `opts.size` (see the module doc). */
export async function alignFace(image: RawImage, landmarks: readonly Point[], opts: AlignOptions): Promise<RawImage> {
  if (image.channels !== 3) throw new AlaeError(`alignment needs an RGB image (got ${image.channels} channels)`);
  const size = opts.size;
  const transformSize = opts.transformSize ?? 4 * size;
  const fq = faceQuad(landmarks, opts.mode ?? 'ffhq');
  let quad = fq.quad.map((p) => [p[0], p[1]] as Point);
  let qsize = fq.qsize;
  let img = image;

  // Shrink: work near the output scale when the face is much larger.
  const shrink = Math.floor((qsize / size) * 0.5);
  if (shrink > 1) {
    img = await resize(img, rint(img.width / shrink), rint(img.height / shrink));
    quad = quad.map((p) => [p[0] / shrink, p[1] / shrink] as Point);
    qsize /= shrink;
  }

  // Crop to the quad plus a border.
  const border = Math.max(rint(qsize * 0.1), 3);
  const bounds = (q: Point[]): [number, number, number, number] => [
    Math.floor(Math.min(...q.map((p) => p[0]))),
    Math.floor(Math.min(...q.map((p) => p[1]))),
    Math.ceil(Math.max(...q.map((p) => p[0]))),
    Math.ceil(Math.max(...q.map((p) => p[1]))),
  ];
  let b = bounds(quad);
  const cropBox = [Math.max(b[0] - border, 0), Math.max(b[1] - border, 0), Math.min(b[2] + border, img.width), Math.min(b[3] + border, img.height)];
  if (cropBox[2] - cropBox[0] < img.width || cropBox[3] - cropBox[1] < img.height) {
    if (cropBox[2] <= cropBox[0] || cropBox[3] <= cropBox[1]) throw new AlaeError('the face lies outside the image');
    img = crop(img, cropBox[0], cropBox[1], cropBox[2] - cropBox[0], cropBox[3] - cropBox[1]);
    quad = quad.map((p) => [p[0] - cropBox[0], p[1] - cropBox[1]] as Point);
  }

  // Pad: reflect, blur towards the new borders, fade to the median colour.
  b = bounds(quad);
  let pad = [Math.max(-b[0] + border, 0), Math.max(-b[1] + border, 0), Math.max(b[2] - img.width + border, 0), Math.max(b[3] - img.height + border, 0)];
  if ((opts.padding ?? true) && Math.max(...pad) > border - 4) {
    const p3 = rint(qsize * 0.3);
    pad = pad.map((v) => Math.max(v, p3));
    const padded = reflectPad(img, pad[0], pad[1], pad[2], pad[3]);
    const { width: w, height: h, data } = padded;
    const c = 3;
    const blurred = gaussianBlur(data, w, h, c, qsize * 0.02);
    const inv = pad.map((v) => 1 / Math.max(v, 1));
    for (let yy = 0; yy < h; yy++) {
      const my = 1 - Math.min(yy * inv[1], (h - 1 - yy) * inv[3]);
      for (let xx = 0; xx < w; xx++) {
        const mask = Math.max(1 - Math.min(xx * inv[0], (w - 1 - xx) * inv[2]), my);
        const wb = Math.min(Math.max(mask * 3 + 1, 0), 1);
        if (wb === 0) continue;
        const o = (yy * w + xx) * c;
        for (let k = 0; k < c; k++) data[o + k] += (blurred[o + k] - data[o + k]) * wb;
      }
    }
    const med = channelMedian(data, c);
    const bytes = new Uint8Array(data.length);
    for (let yy = 0; yy < h; yy++) {
      const my = 1 - Math.min(yy * inv[1], (h - 1 - yy) * inv[3]);
      for (let xx = 0; xx < w; xx++) {
        const mask = Math.max(1 - Math.min(xx * inv[0], (w - 1 - xx) * inv[2]), my);
        const wm = Math.min(Math.max(mask, 0), 1);
        const o = (yy * w + xx) * c;
        for (let k = 0; k < c; k++) {
          const v = rint(data[o + k] + (med[k] - data[o + k]) * wm);
          bytes[o + k] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
    img = { data: bytes, width: w, height: h, channels: 3 };
    quad = quad.map((p) => [p[0] + pad[0], p[1] + pad[1]] as Point);
  }

  const big = quadTransform(img, quad, transformSize);
  return transformSize === size ? big : resize(big, size, size);
}

/**
 * Where a point of the source image lands in the aligned crop of side
 * `size` (the inverse of the quad map, for a parallelogram quad).
 */
export function mapToAligned(fq: FaceQuad, p: Point, size: number): Point {
  const [nw, sw, , ne] = fq.quad;
  const ax = ne[0] - nw[0], ay = ne[1] - nw[1];
  const bx = sw[0] - nw[0], by = sw[1] - nw[1];
  const det = ax * by - ay * bx;
  const dx = p[0] - nw[0], dy = p[1] - nw[1];
  const u = (dx * by - dy * bx) / det;
  const v = (ax * dy - ay * dx) / det;
  return [u * size, v * size];
}
