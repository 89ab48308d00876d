/** How networks read their parameters: by reference name, in our layout. */
import type { Tensor } from '../tf.js';

export type Weights = (name: string) => Tensor;
