/**
 * From a photo to model-ready face crops: decode, detect, align, convert to
 * the model's channels. With alignment off ('none'), the image is taken to
 * be a crop already (centre square, downscaled as the reference does).
 */
import { AlaeError } from '../errors.js';
import { centerSquare, imagesToFloat, inputName, readRgb, resize, toUnit, withChannels, type ImageInput, type RawImage } from '../image/image.js';
import { alignFace, type AlignMode } from './align.js';
import type { DetectOptions, DetectedFace, FaceBox, FaceDetector, Point } from './detect.js';

/** How faces are cut out: an alignment variant, or 'none' for crops that are aligned already. */
export type AlignChoice = AlignMode | 'none';
/** Every face of a photo, or only the largest. */
export type FaceSelection = 'all' | 'largest';

export interface FaceCropOptions {
  /** Output side (the model's resolution). */
  size: number;
  /** Output channels (the model's: 1 or 3). */
  channels: number;
  align: AlignChoice;
  /** Default 'all'. */
  faces?: FaceSelection;
  detect?: DetectOptions;
}

/** One face, ready for the encoder, with where it came from. */
export interface FaceCrop {
  /** The input's path, or `image #i`. */
  source: string;
  /** Which face of the source (0 when alignment is off). */
  face: number;
  /** The aligned crop: size x size, in the model's channels. */
  image: RawImage;
  /**
   * The encoder's input when it is more exact than `image` / 127.5 - 1:
   * crops box-downscaled without alignment keep the float block means, as
   * the reference's scripts average-pool the float image. HWC, [-1, 1].
   */
  pixels?: Float32Array;
  /** Detector box and landmarks in the source image (absent when alignment is off). */
  box?: FaceBox;
  score?: number;
  landmarks?: Point[];
}

/**
 * A square image of any size at `size`: box-downscaled when `size` divides
 * it (the reference's avg_pool2d: `pixels` holds the exact float means, the
 * uint8 `image` their rounding), else Lanczos-resized.
 */
export async function squareTo(img: RawImage, size: number): Promise<{ image: RawImage; pixels?: Float32Array }> {
  const sq = centerSquare(img);
  if (sq.width === size) return { image: sq };
  if (sq.width > size && sq.width % size === 0) {
    const k = sq.width / size;
    const c = sq.channels;
    const sums = new Float64Array(size * size * c);
    for (let y = 0; y < sq.width; y++) {
      const row = Math.floor(y / k) * size;
      for (let x = 0; x < sq.width; x++) {
        const o = (row + Math.floor(x / k)) * c;
        const p = (y * sq.width + x) * c;
        for (let j = 0; j < c; j++) sums[o + j] += sq.data[p + j];
      }
    }
    const area = k * k;
    const pixels = new Float32Array(sums.length);
    const data = new Uint8Array(sums.length);
    for (let i = 0; i < sums.length; i++) {
      const m = sums[i] / area;
      pixels[i] = toUnit(m);
      data[i] = Math.round(m);
    }
    return { image: { data, width: size, height: size, channels: c }, pixels };
  }
  return { image: await resize(sq, size, size) };
}

/** The encoder's input for crops of side `size`: NHWC floats in [-1, 1], each crop's exact `pixels` where it has them. */
export function encoderInput(crops: readonly FaceCrop[], size: number, channels: number): Float32Array {
  const per = size * size * channels;
  const x = new Float32Array(crops.length * per);
  crops.forEach((c, i) => x.set(c.pixels ?? imagesToFloat([c.image], size, channels), i * per));
  return x;
}

/** Faces left to right (then top to bottom), so face numbers read naturally. */
function readingOrder(a: DetectedFace, b: DetectedFace): number {
  return a.box.x - b.box.x || a.box.y - b.box.y;
}

/**
 * The face crops of one input. Throws an AlaeError naming the input when it
 * cannot be read or, with alignment on, holds no face.
 */
export async function extractFaces(input: ImageInput, detector: FaceDetector | null, opts: FaceCropOptions, name = inputName(input, 0)): Promise<FaceCrop[]> {
  const rgb = await readRgb(input, name);
  if (opts.align === 'none') {
    // Channels first (gray models pool gray values), then the downscale.
    const sq = await squareTo(withChannels(rgb, opts.channels), opts.size);
    return [{ source: name, face: 0, image: sq.image, ...(sq.pixels ? { pixels: sq.pixels } : {}) }];
  }
  if (!detector) throw new AlaeError('internal: alignment requested without a face detector');
  let found = await detector.detect(rgb, opts.detect);
  if (found.length === 0) throw new AlaeError('no face found (use --no-align for images that are face crops already)', name);
  if ((opts.faces ?? 'all') === 'largest') {
    found = [found.reduce((best, f) => (f.box.width * f.box.height > best.box.width * best.box.height ? f : best))];
  } else {
    found = [...found].sort(readingOrder);
  }
  const out: FaceCrop[] = [];
  for (let i = 0; i < found.length; i++) {
    const f = found[i];
    let aligned: RawImage;
    try {
      aligned = await alignFace(rgb, f.landmarks, { size: opts.size, mode: opts.align });
    } catch (e) {
      throw e instanceof AlaeError ? new AlaeError(`face ${i}: ${e.message}`, name) : e;
    }
    out.push({ source: name, face: i, image: withChannels(aligned, opts.channels), box: f.box, score: f.score, landmarks: f.landmarks });
  }
  return out;
}
