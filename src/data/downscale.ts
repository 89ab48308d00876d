/**
 * Lower levels of a dataset image the way the reference ALAE builds them:
 * 2x2 average pooling truncated to uint8, and the box filter built on it.
 * All images are square interleaved (HWC) uint8.
 */
import { AlaeError } from '../errors.js';

/**
 * One 2x2 average-pooling step on a square HWC uint8 image of side `size`
 * (even). Like the reference's
 * `F.avg_pool2d(image, 2, 2).clamp_(0, 255).to(torch.uint8)`: the mean of
 * the four pixels, truncated toward zero (not rounded).
 */
export function avgPool2x2(src: Uint8Array, size: number, channels: number): Uint8Array {
  if (size % 2 !== 0) throw new AlaeError(`cannot 2x2-pool an image of odd size ${size}`);
  if (src.length !== size * size * channels) {
    throw new AlaeError(`image has ${src.length} bytes, expected ${size}x${size}x${channels}`);
  }
  const half = size / 2;
  const out = new Uint8Array(half * half * channels);
  const row = size * channels;
  let o = 0;
  for (let y = 0; y < half; y++) {
    const r0 = 2 * y * row;
    const r1 = r0 + row;
    for (let x = 0; x < half; x++) {
      const p = 2 * x * channels;
      for (let c = 0; c < channels; c++) {
        const i = p + c;
        out[o++] = (src[r0 + i] + src[r0 + i + channels] + src[r1 + i] + src[r1 + i + channels]) >> 2;
      }
    }
  }
  return out;
}

/**
 * Box-filter a square HWC image from `size` down to `target` (size must be
 * an integer multiple k of target). For k a power of two this is repeated
 * 2x2 pooling (each step truncated as in `avgPool2x2`), exactly as the
 * reference derives level r-1 from level r; for other k it is the mean of
 * each k x k block, truncated. Returns `src` itself when size === target.
 */
export function boxDownscale(src: Uint8Array, size: number, channels: number, target: number): Uint8Array {
  const k = size / target;
  if (!Number.isInteger(k) || k < 1) {
    throw new AlaeError(`cannot box-downscale ${size} to ${target}: not an integer multiple`);
  }
  if ((k & (k - 1)) !== 0) return blockMean(src, size, channels, k);
  let img = src;
  for (let s = size; s > target; s /= 2) img = avgPool2x2(img, s, channels);
  return img;
}

/** Mean of each k x k block of a square HWC image (size divisible by k), truncated. */
export function blockMean(src: Uint8Array, size: number, channels: number, k: number): Uint8Array {
  if (size % k !== 0) throw new AlaeError(`cannot average ${k}x${k} blocks of a ${size}x${size} image`);
  const out = size / k;
  const dst = new Uint8Array(out * out * channels);
  const acc = new Uint32Array(out * channels);
  const area = k * k;
  for (let oy = 0; oy < out; oy++) {
    acc.fill(0);
    for (let dy = 0; dy < k; dy++) {
      const row = (oy * k + dy) * size * channels;
      for (let x = 0; x < size; x++) {
        const a = Math.floor(x / k) * channels;
        const p = row + x * channels;
        for (let c = 0; c < channels; c++) acc[a + c] += src[p + c];
      }
    }
    const base = oy * out * channels;
    for (let i = 0; i < out * channels; i++) dst[base + i] = Math.floor(acc[i] / area);
  }
  return dst;
}
