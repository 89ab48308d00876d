/**
 * Names of the multi-tensor parameter-update kernels a backend may register
 * (train/param-update.ts runs them). ADAM_UPDATE takes p0.., v0.., g0..
 * (parameter, Adam's v, gradient) and attrs stepSizes (one a parameter),
 * beta2, eps; it returns the new p0.., then the new v0... LERP_UPDATE takes
 * a0.., t0.. and attr rate; it returns the new a0...
 */
export const ADAM_UPDATE = 'AlaeAdamUpdate';
export const LERP_UPDATE = 'AlaeLerpUpdate';
