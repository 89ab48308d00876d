/**
 * The parameter table: every trainable tensor of the four networks, named
 * exactly as the reference's state_dict names it (prefixed by network), in
 * its order, gathered from the blocks' own declarations (encoder.ts,
 * generator.ts, mapping.ts; what a declaration holds: lreq.ts).
 *
 * The checkpoint import (io/import.ts), the optimizer (train/) and model
 * initialisation all read this one table, so they cannot disagree.
 */
import { type ModelConfig, decoderChannels, encoderChannels, styleCount } from '../config/config.js';
import { encoderParams } from './encoder.js';
import { generatorParams } from './generator.js';
import { type Blocks, allBlocks, usedBlocks } from './levels.js';
import type { NetworkName, ParamSpec } from './lreq.js';
import { mappingDParams, mappingFParams } from './mapping.js';

/** Our four networks in the table's order. */
export const NETWORKS: readonly NetworkName[] = ['encoder', 'mapping_d', 'decoder', 'mapping_f'];

/** The reference checkpoint's model names for our networks. */
export const CHECKPOINT_NAMES: Record<NetworkName, string> = {
  encoder: 'discriminator',
  decoder: 'generator',
  mapping_d: 'mapping_tl',
  mapping_f: 'mapping_fl',
};

/** The table in the reference's state_dict order (parameters only; buffers apart); `blocks` limits it to some blocks. */
export function paramSpecs(cfg: ModelConfig, blocks: Blocks = allBlocks(cfg)): ParamSpec[] {
  return [...encoderParams(cfg, blocks), ...mappingDParams(cfg), ...generatorParams(cfg, blocks), ...mappingFParams(cfg)];
}

/** idleParams per config, by lod, fading and networks: every loss of every training step asks. */
const idleCache = new WeakMap<ModelConfig, Map<string, ReadonlySet<string>>>();

/**
 * Names of the parameters of `networks` that a pass at `lod` and `blend`
 * leaves out (FromRGB and ToRGB of other levels, blocks beyond the level):
 * tfjs gives them a gradient of zero where the reference has none.
 */
export function idleParams(cfg: ModelConfig, lod: number, blend: number, networks: readonly NetworkName[] = NETWORKS): ReadonlySet<string> {
  const use = usedBlocks(cfg, lod, blend);
  const key = `${lod} ${use.fading} ${networks.join(',')}`;
  let byKey = idleCache.get(cfg);
  if (!byKey) idleCache.set(cfg, (byKey = new Map()));
  let idle = byKey.get(key);
  if (!idle) {
    const used = new Set(paramSpecs(cfg, use).map((s) => s.name));
    idle = new Set(paramSpecs(cfg).filter((s) => networks.includes(s.network) && !used.has(s.name)).map((s) => s.name));
    byKey.set(key, idle);
  }
  return idle;
}

/** Buffers the reference stores beside the parameters. */
export interface BufferSpec {
  name: string;
  torchShape: number[];
  /** 'blur': the fixed [1,2,1]x[1,2,1]/16 kernel, checked on import, not stored. */
  kind: 'dlatent_avg' | 'blur';
}

export function bufferSpecs(cfg: ModelConfig): BufferSpec[] {
  const out: BufferSpec[] = [];
  for (let i = 0; i < cfg.layerCount; i++) {
    out.push({ name: `encoder.encode_block.${i}.blur.weight`, torchShape: [encoderChannels(cfg, i)[0], 1, 3, 3], kind: 'blur' });
    out.push({ name: `decoder.decode_block.${i}.blur.weight`, torchShape: [decoderChannels(cfg, i), 1, 3, 3], kind: 'blur' });
  }
  out.push({ name: 'dlatent_avg.buff', torchShape: [styleCount(cfg), cfg.latentSize], kind: 'dlatent_avg' });
  return out;
}

export function countParams(specs: ParamSpec[], network?: NetworkName): number {
  return specs.filter((s) => !network || s.network === network).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}
