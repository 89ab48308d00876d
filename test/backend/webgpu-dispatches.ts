/** Counting the GPU dispatches of a piece of code on the webgpu backend (tests). */

/** The compute dispatches f records, by pipeline label. */
export function dispatchesOf(f: () => void): Record<string, number> {
  const pass = (globalThis as unknown as { GPUComputePassEncoder: { prototype: Record<string, (...a: unknown[]) => unknown> } }).GPUComputePassEncoder.prototype;
  const [setPipeline, dispatch] = [pass.setPipeline, pass.dispatchWorkgroups];
  const labels = new WeakMap<object, string>();
  const counts: Record<string, number> = {};
  pass.setPipeline = function (this: object, p: unknown) {
    labels.set(this, (p as { label: string }).label);
    return setPipeline.call(this, p);
  };
  pass.dispatchWorkgroups = function (this: object, ...a: unknown[]) {
    const k = labels.get(this) ?? '?';
    counts[k] = (counts[k] ?? 0) + 1;
    return dispatch.apply(this, a);
  };
  try {
    f();
  } finally {
    [pass.setPipeline, pass.dispatchWorkgroups] = [setPipeline, dispatch];
  }
  return counts;
}
