/** How networks read their parameters: by the declaration of each (its reference name), in our layout. */
import type { Tensor } from '../tf.js';
import type { ParamSpec } from './lreq.js';

export type Weights = (param: ParamSpec) => Tensor;
