/**
 * Face identity: the 128-d descriptor of face-api's face recognition net
 * (dlib's ResNet-34, weights shipped in its npm package), on alae's own
 * tfjs engine (loadFaceApi checks that there is one), so that it is
 * differentiable with respect to the image: every op of the net (conv2d,
 * add, mul, relu, maxPool, avgPool, mean, matMul) and of the crop before it
 * (slice, resizeBilinear, stack) has a first-order gradient in tfjs,
 * which is all refinement needs.
 *
 * The net wants the face cut out the way face-api does it (the 68
 * landmarks' bounding box with 10% margin on each side, squared, 150x150).
 * Model inputs are aligned crops, where the face sits at a fixed place, so
 * the box is fixed per alignment: the median over the shared sample crops
 * of face-api's own box, squared around its centre (FACE_BOX). The same box
 * is cut from an input and its reconstruction, so the descriptors compare
 * like with like.
 */
import { tf, type Tensor, type Tensor2D, type Tensor4D } from '../tf.js';
import { AlaeError } from '../errors.js';
import type { AlignMode } from './align.js';
import { faceApiModelDir, loadFaceApi, loadNet, type FaceApiModule, type FaRecognitionNet } from './detect.js';

/** The recognition net's input side. */
export const IDENTITY_INPUT = 150;

/**
 * Where the face is in an aligned crop, as fractions of its side: left, top,
 * side of a square. From face-api's landmark boxes on ../shared/faces
 * (ffhq-aligned256, celeba-aligned128; 24 crops each).
 */
export const FACE_BOX: Readonly<Record<AlignMode, { left: number; top: number; side: number }>> = {
  ffhq: { left: 0.16, top: 0.3, side: 0.68 },
  celeba: { left: 0.08, top: 0.16, side: 0.84 },
};

/** The face recognition net, owned by this object. */
export class FaceIdentity {
  private net: FaRecognitionNet | null;
  private owned: tf.Tensor[];
  private readonly api: FaceApiModule;

  private constructor(api: FaceApiModule, net: FaRecognitionNet, owned: tf.Tensor[]) {
    this.api = api;
    this.net = net;
    this.owned = owned;
  }

  /** Load the net from node_modules (about 6 MB). */
  static load(): FaceIdentity {
    const api = loadFaceApi();
    const { net, tensors } = loadNet(new api.FaceRecognitionNet(), faceApiModelDir(), 'face_recognition_model');
    return new FaceIdentity(api, net, tensors);
  }

  /**
   * Descriptors [N, 128] of aligned face crops `x` (NHWC RGB in [-1, 1],
   * square), the face cut from FACE_BOX[align]. Differentiable in x.
   */
  descriptors(x: Tensor4D, align: AlignMode): Tensor2D {
    const net = this.net;
    if (!net) throw new AlaeError('this face identity net has been disposed');
    const [n, h, w, c] = x.shape;
    if (c !== 3 || h !== w) throw new AlaeError(`face identity needs square RGB crops (got ${h}x${w}x${c})`);
    const box = FACE_BOX[align];
    const left = Math.round(box.left * w);
    const top = Math.round(box.top * h);
    const side = Math.min(Math.round(box.side * w), w - left, h - top);
    return tf.tidy(() => {
      const face = tf.slice(x, [0, top, left, 0], [n, side, side, 3]);
      const px = tf.mul(tf.add(tf.image.resizeBilinear(face, [IDENTITY_INPUT, IDENTITY_INPUT]), 1), 127.5);
      // One [1, 150, 150, 3] slice per face (tfjs's unstack gradient fails for a batch of one).
      const rows = Array.from({ length: n }, (_, i) => tf.slice(px, [i, 0, 0, 0], [1, IDENTITY_INPUT, IDENTITY_INPUT, 3]) as Tensor4D);
      const input = new this.api.NetInput(rows, true);
      return net.forwardInput(input);
    });
  }

  dispose(): void {
    this.net?.dispose(false);
    for (const t of this.owned) t.dispose();
    this.owned = [];
    this.net = null;
  }
}

/** Cosine similarity of matching rows of a and b [N, D]: [N]. */
export function rowCosine(a: Tensor, b: Tensor): Tensor {
  return tf.tidy(() => {
    const dot = tf.sum(tf.mul(a, b), 1);
    return tf.div(dot, tf.add(tf.mul(tf.norm(a, 2, 1), tf.norm(b, 2, 1)), 1e-12));
  });
}
