/**
 * The two MLPs of ALAE (net.py), each with its parameters declared beside
 * it: MappingF, z -> w, and MappingD, the discriminator D on w.
 */
import { tf, type Tensor } from '../tf.js';
import type { ModelConfig } from '../config/config.js';
import { type Differentiation, pixelNorm } from '../nn/ops.js';
import { linear, linearLeaky } from '../nn/linear.js';
import { type LinearParams, type ParamSpec, Scope } from './lreq.js';
import type { Weights } from './weights.js';

/** MappingF's layers: mappingLayers x lreq.Linear(latent, latent, lrmul 0.1), `map_blocks.i.fc`. */
function mappingFLayers(cfg: ModelConfig): LinearParams[] {
  return Array.from({ length: cfg.mappingLayers }, (_, i) => new Scope('mapping_f', `map_blocks.${i}`).linear('fc', cfg.latentSize, cfg.latentSize, Math.SQRT2, 0.1));
}

/** MappingD's layers: 3 x lreq.Linear (lrmul 0.1), the last with 2*latent outputs, `map_blocks.i`. */
function mappingDLayers(cfg: ModelConfig): LinearParams[] {
  const s = new Scope('mapping_d', 'map_blocks');
  return Array.from({ length: 3 }, (_, i) => s.linear(`${i}`, cfg.latentSize, i === 2 ? 2 * cfg.latentSize : cfg.latentSize, Math.SQRT2, 0.1));
}

export function mappingFParams(cfg: ModelConfig): ParamSpec[] {
  return mappingFLayers(cfg).flatMap((l) => [l.weight, l.bias]);
}

export function mappingDParams(cfg: ModelConfig): ParamSpec[] {
  return mappingDLayers(cfg).flatMap((l) => [l.weight, l.bias]);
}

/** MappingF: pixel norm, then mappingLayers x (linear, leaky 0.2). Returns w [N, latent]; `d` as in nn/ops.ts. */
export function mappingF(p: Weights, cfg: ModelConfig, z: Tensor, d: Differentiation = 'none'): Tensor {
  return tf.tidy(() => {
    let x = pixelNorm(z);
    for (const l of mappingFLayers(cfg)) x = linearLeaky(x, p(l.weight), p(l.bias), d);
    return x;
  });
}

/**
 * MappingD: three linear layers with no activation between them; the last
 * has 2*latent outputs and the score is unit `latent` ("for compatibility
 * with older models", net.py). Returns [N]; `d` as in nn/ops.ts.
 */
export function mappingD(p: Weights, cfg: ModelConfig, w: Tensor, d: Differentiation = 'none'): Tensor {
  return tf.tidy(() => {
    let x = w;
    for (const l of mappingDLayers(cfg)) x = linear(x, p(l.weight), p(l.bias), d);
    return tf.reshape(tf.slice(x, [0, cfg.latentSize], [x.shape[0], 1]), [x.shape[0]]);
  });
}
