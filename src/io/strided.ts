/**
 * Reading a strided view in row-major order: a torch tensor's storage, a
 * column-major .npy array, an array with its axes permuted.
 */

/** Calls `fn(i, src)` for every element `i` of `shape` in row-major order, `src` its index under `strides` from `offset`. */
export function forEachStrided(
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  fn: (i: number, src: number) => void,
): void {
  let count = 1;
  for (const d of shape) count *= d;
  const idx = new Array<number>(shape.length).fill(0);
  let src = offset;
  for (let i = 0; i < count; i++) {
    fn(i, src);
    for (let k = shape.length - 1; k >= 0; k--) {
      src += strides[k];
      if (++idx[k] < shape[k]) break;
      src -= strides[k] * shape[k];
      idx[k] = 0;
    }
  }
}

/** The elements of the view `shape`/`strides` of `data`, copied in row-major order. */
export function gatherStrided(data: Float32Array, shape: readonly number[], strides: readonly number[]): Float32Array {
  let count = 1;
  for (const d of shape) count *= d;
  const out = new Float32Array(count);
  forEachStrided(shape, strides, 0, (i, src) => {
    out[i] = data[src];
  });
  return out;
}
