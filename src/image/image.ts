/**
 * The one image path of the package, for training data, the jobs and the
 * TUI alike: decode anything sharp reads (EXIF orientation applied, alpha
 * dropped as the reference does, grayscale expanded) into interleaved uint8
 * pixels, convert channels, and move between uint8 pixels and the model's
 * [-1, 1] floats; also resize, crop, tile sheets and encode PNG. No tensors
 * here: callers own those.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { AlaeError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { encodeImage } from './write-image.js';

/** Interleaved (HWC) uint8 pixels. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). */
  channels: number;
}

/** An image the library accepts: a file path, encoded bytes (PNG, JPEG, WebP, ...) or raw pixels. */
export type ImageInput = string | Uint8Array | RawImage;

/** Which files of a folder are images: one rule for every command (list-images.ts). */
export { IMAGE_EXTENSIONS, listImages } from './list-images.js';

export function isRawImage(x: unknown): x is RawImage {
  const r = x as RawImage;
  return typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && r.data instanceof Uint8Array && Number.isInteger(r.width) && Number.isInteger(r.height) && Number.isInteger(r.channels);
}

/** How an input is named in messages: its path, or `image #i` for in-memory inputs. */
export function inputName(input: ImageInput, index: number): string {
  return typeof input === 'string' ? input : `image #${index}`;
}

function checkRaw(img: RawImage, name: string): void {
  if (img.width <= 0 || img.height <= 0) throw new AlaeError(`raw image has no pixels (${img.width}x${img.height})`, name);
  if (img.channels < 1 || img.channels > 4) throw new AlaeError(`raw image must have 1 to 4 channels (got ${img.channels})`, name);
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new AlaeError(`raw image is ${img.width}x${img.height}x${img.channels} but has ${img.data.length} bytes`, name);
  }
}

function u8(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/**
 * Decode an input to RGB (3 channels). EXIF orientation is applied (photos
 * from phones are stored sideways), an alpha channel is dropped (the
 * reference's scripts take `img[:, :, :3]` of an RGBA file, e.g.
 * make_figures/make_recon_figure_paged.py), grayscale is expanded. Throws an
 * AlaeError naming the input when it cannot be read or decoded.
 */
export async function readRgb(input: ImageInput, name = inputName(input, 0)): Promise<RawImage> {
  let bytes: Uint8Array;
  if (typeof input === 'string') {
    try {
      const st = await stat(input);
      if (st.isDirectory()) throw new AlaeError('is a directory, not an image', name);
      bytes = await readFile(input);
    } catch (e) {
      if (e instanceof AlaeError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new AlaeError(`cannot read file${code ? ` (${code})` : ''}`, name);
    }
  } else if (input instanceof Uint8Array) {
    bytes = input;
  } else if (isRawImage(input)) {
    checkRaw(input, name);
    return toRgb(input);
  } else {
    throw new AlaeError('not an image: expected a path, encoded bytes or {data, width, height, channels}', name);
  }
  if (bytes.length === 0) throw new AlaeError('empty file', name);
  try {
    const { data, info } = await sharp(bytes)
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return toRgb({ data: u8(data), width: info.width, height: info.height, channels: info.channels });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    throw new AlaeError(/unsupported image format/i.test(msg) ? 'unsupported image format' : `cannot decode the image (${msg})`, name);
  }
}

/** An input decoded (readRgb) and converted to `channels` (1 or 3; withChannels): what training and the jobs both feed the model. */
export async function decodeImage(input: ImageInput, channels: number, name = inputName(input, 0)): Promise<RawImage> {
  return withChannels(await readRgb(input, name), channels);
}

/** Any 1-4 channel raw image as RGB (alpha dropped, gray repeated). */
export function toRgb(img: RawImage): RawImage {
  if (img.channels === 3) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  const c = img.channels;
  for (let i = 0; i < n; i++) {
    if (c <= 2) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = img.data[i * c];
    else for (let k = 0; k < 3; k++) out[3 * i + k] = img.data[i * c + k];
  }
  return { data: out, width: img.width, height: img.height, channels: 3 };
}

/** An RGB or gray image in `channels` (1 or 3): PIL's luma for RGB -> gray. */
export function withChannels(img: RawImage, channels: number): RawImage {
  if (img.channels === channels) return img;
  const rgb = img.channels === 3 ? img : toRgb(img);
  return { data: convertChannels(rgb.data, 3, channels), width: img.width, height: img.height, channels };
}

/**
 * Convert interleaved pixels between 1 and 3 channels: gray -> RGB repeats
 * the value; RGB -> gray uses ITU-R 601 luma with PIL's integer rounding
 * ((19595 R + 38470 G + 7471 B + 32768) >> 16). Other channel counts cannot
 * be converted and throw.
 */
export function convertChannels(src: Uint8Array, from: number, to: number): Uint8Array {
  if (from === to) return src;
  const n = src.length / from;
  if (from === 1 && to === 3) {
    const out = new Uint8Array(n * 3);
    for (let i = 0, o = 0; i < n; i++, o += 3) out[o] = out[o + 1] = out[o + 2] = src[i];
    return out;
  }
  if (from === 3 && to === 1) {
    const out = new Uint8Array(n);
    for (let i = 0, s = 0; i < n; i++, s += 3) {
      out[i] = (19595 * src[s] + 38470 * src[s + 1] + 7471 * src[s + 2] + 32768) >>> 16;
    }
    return out;
  }
  throw new AlaeError(`cannot convert images with ${from} channel(s) to ${to} channel(s)`);
}

/** Lanczos-3 resize (PIL's ANTIALIAS, which the reference alignment uses) to exactly width x height. */
export async function resize(img: RawImage, width: number, height: number): Promise<RawImage> {
  if (img.width === width && img.height === height) return img;
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 2 | 3 | 4 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return { data: u8(data), width: info.width, height: info.height, channels: info.channels };
}

/** The centred square crop (offset floor((long - short) / 2)). */
export function centerSquare(img: RawImage): RawImage {
  if (img.width === img.height) return img;
  const s = Math.min(img.width, img.height);
  return crop(img, Math.floor((img.width - s) / 2), Math.floor((img.height - s) / 2), s, s);
}

/** A rectangle of an image (must lie inside it). */
export function crop(img: RawImage, left: number, top: number, width: number, height: number): RawImage {
  const c = img.channels;
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * c;
    out.set(img.data.subarray(from, from + width * c), y * width * c);
  }
  return { data: out, width, height, channels: c };
}

export interface TileOptions {
  /** Images per row (default: all in one row). */
  columns?: number;
  /** Gap between cells in pixels (default 0). */
  gap?: number;
  /** Fill for gaps and empty cells, one value per channel or one for all (default 0: black). */
  background?: number;
}

/**
 * Lay out images (all the same size and channels; `null` leaves a cell
 * empty) on a grid, row-major. Used for sheets, strips and the mixing grid.
 */
export function tile(images: (RawImage | null)[], opts: TileOptions = {}): RawImage {
  const first = images.find((x): x is RawImage => x !== null);
  if (!first) throw new AlaeError('nothing to tile');
  const cols = Math.max(1, opts.columns ?? images.length);
  const rows = Math.ceil(images.length / cols);
  const gap = opts.gap ?? 0;
  const { width: w, height: h, channels: c } = first;
  const W = cols * w + (cols - 1) * gap;
  const H = rows * h + (rows - 1) * gap;
  const out = new Uint8Array(W * H * c).fill(opts.background ?? 0);
  images.forEach((img, i) => {
    if (!img) return;
    if (img.width !== w || img.height !== h || img.channels !== c) throw new AlaeError(`cannot tile images of different sizes (${img.width}x${img.height}x${img.channels} vs ${w}x${h}x${c})`);
    const x0 = (i % cols) * (w + gap);
    const y0 = Math.floor(i / cols) * (h + gap);
    for (let y = 0; y < h; y++) out.set(img.data.subarray(y * w * c, (y + 1) * w * c), ((y0 + y) * W + x0) * c);
  });
  return { data: out, width: W, height: H, channels: c };
}

/** An image enlarged `factor` times by pixel repetition (sheets of small images stay crisp). */
export function scaleNearest(img: RawImage, factor: number): RawImage {
  if (!Number.isInteger(factor) || factor < 1) throw new AlaeError(`scale factor must be a positive integer (got ${factor})`);
  if (factor === 1) return img;
  const { width: w, height: h, channels: c } = img;
  const W = w * factor;
  const out = new Uint8Array(W * h * factor * c);
  for (let y = 0; y < h; y++) {
    const row = new Uint8Array(W * c);
    for (let x = 0; x < w; x++) {
      const px = img.data.subarray((y * w + x) * c, (y * w + x + 1) * c);
      for (let k = 0; k < factor; k++) row.set(px, (x * factor + k) * c);
    }
    for (let k = 0; k < factor; k++) out.set(row, (y * factor + k) * W * c);
  }
  return { data: out, width: W, height: h * factor, channels: c };
}

/**
 * PNG bytes. Fixed encoder settings and no metadata, so the same pixels
 * always give the same bytes (the CLI promises byte-identical files per seed).
 */
export async function encodePng(img: RawImage): Promise<Uint8Array> {
  return encodeImage(img, 'png');
}

/** Write a PNG atomically (creating the folder): readers never see half a file. */
export async function writePng(file: string, img: RawImage): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFileAtomic(file, await encodePng(img));
}

/** A pixel value (0..255, or a mean of pixels) on the model's scale: v / 127.5 - 1, as the reference. */
export function toUnit(v: number): number {
  return v / 127.5 - 1;
}

const TO_FLOAT = (() => {
  const t = new Float32Array(256);
  for (let v = 0; v < 256; v++) t[v] = toUnit(v);
  return t;
})();

/**
 * Write `src` (uint8 HWC, `size` x `size` x `channels`) into `out` at
 * `offset` on the model's scale (toUnit), mirrored left-right when `flip`.
 */
export function toFloatImage(src: Uint8Array, size: number, channels: number, flip: boolean, out: Float32Array, offset: number): void {
  const n = size * size * channels;
  if (src.length !== n) throw new AlaeError(`image has ${src.length} bytes, expected ${size}x${size}x${channels}`);
  if (!flip) {
    for (let i = 0; i < n; i++) out[offset + i] = TO_FLOAT[src[i]];
    return;
  }
  const row = size * channels;
  for (let y = 0; y < size; y++) {
    const r = y * row;
    for (let x = 0; x < size; x++) {
      const d = offset + r + x * channels;
      const s = r + (size - 1 - x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = TO_FLOAT[src[s + c]];
    }
  }
}

/** Square images of side `size` and `channels` into one NHWC float array on the model's scale (toFloatImage). */
export function imagesToFloat(images: readonly RawImage[], size: number, channels: number): Float32Array {
  const per = size * size * channels;
  const out = new Float32Array(images.length * per);
  images.forEach((img, i) => {
    if (img.width !== size || img.height !== size || img.channels !== channels) {
      throw new AlaeError(`internal: image ${i} is ${img.width}x${img.height}x${img.channels}, expected ${size}x${size}x${channels}`);
    }
    toFloatImage(img.data, size, channels, false, out, i * per);
  });
  return out;
}

/**
 * NHWC floats in [-1, 1] to uint8 images the way the reference saves them
 * (torchvision save_image of x * 0.5 + 0.5: floor(v * 255 + 0.5), clamped).
 */
export function floatToImages(data: Float32Array | Int32Array | Uint8Array, count: number, size: number, channels: number): RawImage[] {
  const per = size * size * channels;
  if (data.length !== count * per) throw new AlaeError(`internal: ${data.length} values for ${count} images of ${size}x${size}x${channels}`);
  const out: RawImage[] = [];
  for (let i = 0; i < count; i++) {
    const px = new Uint8Array(per);
    for (let k = 0; k < per; k++) {
      const v = Math.floor((data[i * per + k] * 0.5 + 0.5) * 255 + 0.5);
      px[k] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
    out.push({ data: px, width: size, height: size, channels });
  }
  return out;
}
