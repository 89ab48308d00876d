/**
 * Levels of detail: which blocks E and G run at level `lod` (0 = 4x4 ...
 * layerCount-1 = full) with `blend` in (0, 1] for a level being faded in
 * (encode2/decode2 of net.py). The encoder, the generator and the gradient
 * pruning of training all read this one routing.
 */
import type { ModelConfig } from '../config/config.js';

/** Block indices per kind. Encoder block i works at resolution 2^(layerCount+1-i), generator block i at 4 * 2^i. */
export interface Blocks {
  fromRgb: number[];
  encodeBlocks: number[];
  decodeBlocks: number[];
  toRgb: number[];
}

export interface UsedBlocks extends Blocks {
  /** blend < 1 above lod 0: the newest level is mixed with the one below it. */
  fading: boolean;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);
}

/**
 * The blocks one pass at `lod` and `blend` runs, in the order it runs them:
 * FromRGB of the input's level (then, fading, of the input 2x downscaled),
 * the encode blocks from that level down to 4x4; decode blocks 4x4 up to the
 * level, ToRGB of the level (then, fading, of the level below).
 */
export function usedBlocks(cfg: ModelConfig, lod: number, blend: number): UsedBlocks {
  const L = cfg.layerCount;
  const first = L - lod - 1;
  const fading = blend < 1 && lod > 0;
  return {
    fading,
    fromRgb: fading ? [first, first + 1] : [first],
    encodeBlocks: range(first, L),
    decodeBlocks: range(0, lod + 1),
    toRgb: fading ? [lod, lod - 1] : [lod],
  };
}

/** Every block of the model, in index order (the parameter table's order). */
export function allBlocks(cfg: ModelConfig): Blocks {
  const all = range(0, cfg.layerCount);
  return { fromRgb: all, encodeBlocks: all, decodeBlocks: all, toRgb: all };
}
