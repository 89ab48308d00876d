/**
 * The two MLPs of ALAE (net.py): MappingF, z -> w, and MappingD, the
 * discriminator D on w.
 */
import { tf, type Tensor } from '../tf.js';
import type { ModelConfig } from '../config/config.js';
import { type Differentiation, leakyRelu, linear, pixelNorm } from '../nn/ops.js';
import type { Weights } from './weights.js';

/** MappingF: pixel norm, then mappingLayers x (linear, leaky 0.2). Returns w [N, latent]; `d` as in nn/ops.ts. */
export function mappingF(p: Weights, cfg: ModelConfig, z: Tensor, d: Differentiation = 'none'): Tensor {
  return tf.tidy(() => {
    let x = pixelNorm(z);
    for (let i = 0; i < cfg.mappingLayers; i++) {
      x = leakyRelu(linear(x, p(`mapping_f.map_blocks.${i}.fc.weight`)), d, p(`mapping_f.map_blocks.${i}.fc.bias`));
    }
    return x;
  });
}

/**
 * MappingD: three linear layers with no activation between them; the last
 * has 2*latent outputs and the score is unit `latent` ("for compatibility
 * with older models", net.py). Returns [N].
 */
export function mappingD(p: Weights, cfg: ModelConfig, w: Tensor): Tensor {
  return tf.tidy(() => {
    let x = w;
    for (let i = 0; i < 3; i++) x = linear(x, p(`mapping_d.map_blocks.${i}.weight`), p(`mapping_d.map_blocks.${i}.bias`));
    return tf.reshape(tf.slice(x, [0, cfg.latentSize], [x.shape[0], 1]), [x.shape[0]]);
  });
}
