/**
 * The one tfjs-core instance of the package. Every module imports tf from
 * here, so backends registered by src/backend/backend.ts are the ones used.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradient functions; the union package's Node
// build registers them all on this same (deduped) tfjs-core instance.
import '@tensorflow/tfjs';

export { tf };
export type Tensor = tf.Tensor;
export type Tensor1D = tf.Tensor1D;
export type Tensor2D = tf.Tensor2D;
export type Tensor4D = tf.Tensor4D;
export type Variable = tf.Variable;
