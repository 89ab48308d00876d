/**
 * Moving tensors between the reference's PyTorch layouts and ours (NHWC
 * images, HWIO kernels, [in, out] linear weights). See params.ts `Layout`.
 */
import { type Layout, toOurShape } from '../model/lreq.js';
import { gatherStrided } from './strided.js';
import { rowMajorStrides } from '../util/strides.js';

/** Permute a row-major array of `shape` so that output axis k is input axis perm[k]. */
export function permute(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const strides = rowMajorStrides(shape);
  return gatherStrided(
    data,
    perm.map((p) => shape[p]),
    perm.map((p) => strides[p]),
  );
}

const PERM: Record<Layout, number[] | null> = {
  conv: [2, 3, 1, 0],
  convT: [2, 3, 1, 0],
  linear: [1, 0],
  nchw: [0, 2, 3, 1],
  chan: null,
  same: null,
};

/** A tensor from the reference's layout to ours. */
export function fromTorchLayout(data: Float32Array, torchShape: number[], layout: Layout): { data: Float32Array; shape: number[] } {
  const perm = PERM[layout];
  return { data: perm ? permute(data, torchShape, perm) : data, shape: toOurShape(torchShape, layout) };
}

/** NCHW -> NHWC for image-like tensors of any batch. */
export function nchwToNhwc(data: Float32Array, shape: number[]): { data: Float32Array; shape: number[] } {
  return { data: permute(data, shape, [0, 2, 3, 1]), shape: [shape[0], shape[2], shape[3], shape[1]] };
}
