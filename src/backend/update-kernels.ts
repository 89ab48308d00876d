/**
 * Names of the multi-tensor parameter-update kernels a backend may register
 * (train/param-update.ts runs them). ADAM_UPDATE takes p0.., v0.. (parameter,
 * Adam's v) and each parameter's gradient in parts gI_0, gI_1, .. (their sum,
 * added left to right, is the gradient: train/grad-parts.ts), and attrs
 * stepSizes and parts (the count of gradient parts; one each a parameter),
 * beta2, eps; it returns the new p0.., then the new v0... LERP_UPDATE takes
 * a0.., t0.. (tI of aI's shape, or of its trailing axes, repeated along the
 * leading ones) and attr rate; it returns the new a0...
 */
export const ADAM_UPDATE = 'AlaeAdamUpdate';
export const LERP_UPDATE = 'AlaeLerpUpdate';
