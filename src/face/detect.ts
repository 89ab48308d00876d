/**
 * Face detection and 68 landmarks (the iBUG 68-point scheme that dlib, and
 * so the reference's align_faces.py, uses) with @vladmandic/face-api, run on
 * alae's own tfjs-core and its active backend.
 *
 * Loading face-api. Its `face-api.esm-nobundle.js` build cannot be imported
 * by Node's ESM loader: it imports `@tensorflow/tfjs/dist/index.js`, which
 * itself imports extensionless paths (`@tensorflow/tfjs-core/dist/register_all_gradients`)
 * that Node refuses (ERR_MODULE_NOT_FOUND). We therefore `require` its CommonJS
 * Node build `face-api.node-wasm.js`, which requires `@tensorflow/tfjs` and
 * `@tensorflow/tfjs-backend-wasm`: both npm-deduped onto the very
 * `@tensorflow/tfjs-core` file that src/tf.ts imports (Node shares one module
 * instance between `import` and `require` of the same file). We check that
 * with `tf.engine()` identity and refuse to run otherwise. tfjs's union
 * package also brings tfjs-backend-webgl, which registers nothing in Node;
 * loading face-api never changes the active backend (checked, and tested).
 *
 * Weights are read from node_modules/@vladmandic/face-api/model with fs and
 * decoded with tf.io.decodeWeights: never fetched.
 *
 * Each FaceDetector owns its own network instances (not face-api's global
 * `nets`), so its tensors are released by its dispose().
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tf } from '../tf.js';
import { AlaeError } from '../errors.js';
import { crop, resize, type RawImage } from '../image/image.js';
import { useBackend, type BackendName } from '../backend/backend.js';

/** Backends whose depthwise convolutions are plain JS (see DetectOptions.backend). */
const JS_DEPTHWISE_BACKENDS = ['cpu', 'native'];

/** A 2-D point in image pixel coordinates (pixel centres at integers + 0.5, as face-api reports them). */
export type Point = [number, number];

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DetectedFace {
  /** Detector box in the input image's pixels. */
  box: FaceBox;
  /** Detector confidence in [0, 1]. */
  score: number;
  /** The 68 landmarks (iBUG order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67). */
  landmarks: Point[];
}

export interface DetectOptions {
  /** Minimum detector confidence (default 0.5, face-api's default). */
  minConfidence?: number;
  /** At most this many faces, highest confidence first (default 100). */
  maxFaces?: number;
  /**
   * The detector sees the image downscaled so its longer side is at most
   * this (default 640). SSD resizes its input to 512x512 anyway, so a bigger
   * input only costs time; landmarks are still found on full-resolution crops.
   */
  detectSize?: number;
  /**
   * Where the detector runs. 'auto' (default): on the active backend, except
   * when that runs depthwise convolutions in plain JS ('cpu', and 'native',
   * whose C++ kernels cover dense convolutions only): then the detector
   * borrows 'wasm' for the call and switches back. SSD MobileNet is mostly
   * depthwise convolutions, which wasm runs many times faster than those
   * two; the faces found agree. 'active': always the active backend.
   */
  backend?: 'auto' | 'active';
}

// Minimal views of the face-api objects we use (its bundled .d.ts types
// refer to its own tfjs type declarations, which do not line up with ours).
export interface FaNet {
  loadFromWeightMap(map: Record<string, tf.Tensor>): void;
  getParamList(): { path: string; tensor: tf.Tensor }[];
  dispose(throwOnRedispose?: boolean): void;
}
interface FaBox {
  x: number;
  y: number;
  width: number;
  height: number;
}
interface FaDetection {
  score: number;
  box: FaBox;
}
interface FaSsd extends FaNet {
  locateFaces(input: tf.Tensor3D, options: unknown): Promise<FaDetection[]>;
}
interface FaLandmarks {
  positions: { x: number; y: number }[];
}
interface FaLandmarkNet extends FaNet {
  detectLandmarks(input: tf.Tensor3D): Promise<FaLandmarks | FaLandmarks[]>;
}
/** The face recognition net (a ResNet-34 of dlib's): 150x150 RGB in 0..255 to a 128-d descriptor. */
export interface FaRecognitionNet extends FaNet {
  forwardInput(input: unknown): tf.Tensor2D;
}
export interface FaceApiModule {
  tf: { engine(): unknown };
  SsdMobilenetv1: new () => FaSsd;
  FaceLandmark68Net: new () => FaLandmarkNet;
  FaceRecognitionNet: new () => FaRecognitionNet;
  /** Wraps images (HWC, or NHWC with N = 1) for a net's forwardInput (square ones of its input size pass unresized). */
  NetInput: new (inputs: (tf.Tensor3D | tf.Tensor4D)[], treatAsBatchInput?: boolean) => unknown;
  SsdMobilenetv1Options: new (o: { minConfidence: number; maxResults: number }) => unknown;
}

const require = createRequire(import.meta.url);
let faceApi: FaceApiModule | null = null;

/** The face-api module, loaded once, checked to share our tfjs engine. */
export function loadFaceApi(): FaceApiModule {
  if (faceApi) return faceApi;
  // engine().backendName, not getBackend(): the latter would pick and
  // initialise a backend if none is active yet.
  const backendBefore = tf.engine().backendName;
  let mod: FaceApiModule;
  try {
    mod = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApiModule;
  } catch (e) {
    throw new AlaeError(`cannot load @vladmandic/face-api (face detection): ${(e as Error).message.split('\n')[0]}`);
  }
  if (mod.tf.engine() !== tf.engine()) {
    throw new AlaeError('@vladmandic/face-api runs on a different copy of @tensorflow/tfjs-core than alae; reinstall so npm dedupes @tensorflow/tfjs-core (4.22.0)');
  }
  // Loading registers backends (tfjs union, wasm) but must not switch ours.
  if (tf.engine().backendName !== backendBefore) {
    throw new AlaeError(`loading face-api switched the tfjs backend from ${backendBefore} to ${tf.engine().backendName}`);
  }
  faceApi = mod;
  return mod;
}

/** The folder holding face-api's bundled weights. */
export function faceApiModelDir(): string {
  return path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
}

interface ManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

/** Read `<name>-weights_manifest.json` and its shards from disk into tensors. */
function readWeights(dir: string, name: string): Record<string, tf.Tensor> {
  const manifestFile = path.join(dir, `${name}-weights_manifest.json`);
  let manifest: ManifestGroup[];
  try {
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as ManifestGroup[];
  } catch (e) {
    throw new AlaeError(`cannot read face-api weights: ${(e as Error).message.split('\n')[0]}`, manifestFile);
  }
  const out: Record<string, tf.Tensor> = {};
  for (const group of manifest) {
    const bytes = Buffer.concat(group.paths.map((p) => readFileSync(path.join(dir, p))));
    const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    Object.assign(out, tf.io.decodeWeights(ab, group.weights));
  }
  return out;
}

/** Load a net from disk; returns it and every tensor it may hold (the decoded map). */
export function loadNet<T extends FaNet>(net: T, dir: string, name: string): { net: T; tensors: tf.Tensor[] } {
  const map = readWeights(dir, name);
  try {
    net.loadFromWeightMap(map);
  } catch (e) {
    for (const t of Object.values(map)) t.dispose();
    throw new AlaeError(`cannot load face-api weights '${name}': ${(e as Error).message}`);
  }
  // The net uses the map's tensors directly (and not all of them appear in
  // its parameter list), so the whole map stays alive until dispose().
  return { net, tensors: Object.values(map) };
}

/** SSD MobileNet v1 face detector + 68-point landmark net, owned by this object. */
export class FaceDetector {
  private ssd: FaSsd | null;
  private landmarkNet: FaLandmarkNet | null;
  private readonly api: FaceApiModule;
  private owned: tf.Tensor[];

  private constructor(api: FaceApiModule, ssd: FaSsd, landmarkNet: FaLandmarkNet, owned: tf.Tensor[]) {
    this.api = api;
    this.ssd = ssd;
    this.landmarkNet = landmarkNet;
    this.owned = owned;
  }

  /** Load both networks from node_modules (a few MB, well under a second). */
  static load(): FaceDetector {
    const api = loadFaceApi();
    const dir = faceApiModelDir();
    const ssd = loadNet(new api.SsdMobilenetv1(), dir, 'ssd_mobilenetv1_model');
    let lm: { net: FaLandmarkNet; tensors: tf.Tensor[] };
    try {
      lm = loadNet(new api.FaceLandmark68Net(), dir, 'face_landmark_68_model');
    } catch (e) {
      for (const t of ssd.tensors) t.dispose();
      throw e;
    }
    return new FaceDetector(api, ssd.net, lm.net, [...ssd.tensors, ...lm.tensors]);
  }

  /**
   * Faces in an RGB image, highest confidence first, each with 68 landmarks
   * in the image's pixel coordinates. Leaves no tensors behind.
   */
  async detect(img: RawImage, opts: DetectOptions = {}): Promise<DetectedFace[]> {
    if (!this.ssd || !this.landmarkNet) throw new AlaeError('this face detector has been disposed');
    if (img.channels !== 3) throw new AlaeError(`face detection needs an RGB image (got ${img.channels} channels)`);
    const current = tf.getBackend();
    if ((opts.backend ?? 'auto') === 'auto' && JS_DEPTHWISE_BACKENDS.includes(current)) {
      let switched = false;
      try {
        await useBackend('wasm');
        switched = true;
      } catch {
        // wasm unavailable: stay where we are (slow, still correct).
      }
      if (switched) {
        try {
          return await this.run(img, opts);
        } finally {
          await useBackend(current as BackendName);
        }
      }
    }
    return this.run(img, opts);
  }

  private async run(img: RawImage, opts: DetectOptions): Promise<DetectedFace[]> {
    if (!this.ssd || !this.landmarkNet) throw new AlaeError('this face detector has been disposed');
    const detectSize = opts.detectSize ?? 640;
    const scale = Math.min(1, detectSize / Math.max(img.width, img.height));
    const small = scale < 1 ? await resize(img, Math.max(1, Math.round(img.width * scale)), Math.max(1, Math.round(img.height * scale))) : img;
    const sx = img.width / small.width;
    const sy = img.height / small.height;
    const options = new this.api.SsdMobilenetv1Options({ minConfidence: opts.minConfidence ?? 0.5, maxResults: opts.maxFaces ?? 100 });
    const input = tf.tensor3d(small.data, [small.height, small.width, 3], 'int32');
    let dets: FaDetection[];
    try {
      dets = await this.ssd.locateFaces(input, options);
    } finally {
      input.dispose();
    }
    dets.sort((a, b) => b.score - a.score);
    const faces: DetectedFace[] = [];
    for (const d of dets) {
      // Back to full resolution, clipped to the image (face-api clips the same way).
      const x0 = Math.max(0, Math.floor(d.box.x * sx));
      const y0 = Math.max(0, Math.floor(d.box.y * sy));
      const x1 = Math.min(img.width, Math.ceil((d.box.x + d.box.width) * sx));
      const y1 = Math.min(img.height, Math.ceil((d.box.y + d.box.height) * sy));
      if (x1 - x0 < 2 || y1 - y0 < 2) continue;
      const face = crop(img, x0, y0, x1 - x0, y1 - y0);
      const t = tf.tensor3d(face.data, [face.height, face.width, 3], 'int32');
      let lm: FaLandmarks | FaLandmarks[];
      try {
        lm = await this.landmarkNet.detectLandmarks(t);
      } finally {
        t.dispose();
      }
      const one = Array.isArray(lm) ? lm[0] : lm;
      faces.push({
        box: { x: d.box.x * sx, y: d.box.y * sy, width: d.box.width * sx, height: d.box.height * sy },
        score: d.score,
        landmarks: one.positions.map((p) => [p.x + x0, p.y + y0] as Point),
      });
    }
    return faces;
  }

  /** Release the networks' tensors. */
  dispose(): void {
    // The nets' parameters are (mostly) the loaded map's tensors; disposing
    // a tensor twice is a no-op, so release both lists.
    this.ssd?.dispose(false);
    this.landmarkNet?.dispose(false);
    for (const t of this.owned) t.dispose();
    this.owned = [];
    this.ssd = null;
    this.landmarkNet = null;
  }
}
