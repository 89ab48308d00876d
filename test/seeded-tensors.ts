/** Seeded test tensors (train/noise.ts's normals): the same values on every backend and every run. */
import { tf } from '../src/tf.js';
import { seededNormals } from '../src/train/noise.js';

/** Normal values of a shape, times scale plus shift. */
export const normals = (seed: number, shape: number[], scale = 1, shift = 0): tf.Tensor =>
  tf.tensor(Float32Array.from(seededNormals(seed, shape.reduce((a, b) => a * b, 1)), (v) => v * scale + shift), shape);

/** Leaky-ReLU-like activations with an offset, as an EncodeBlock's conv outputs. */
export const activations = (n: number, h: number, c: number, seed: number): tf.Tensor4D =>
  tf.tidy(() => tf.leakyRelu(normals(seed, [n, h, h, c], 1.5, 0.3), 0.2) as tf.Tensor4D);
