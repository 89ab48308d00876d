/**
 * A small runner for alae's own WGSL kernels on tfjs-backend-webgpu 4.22.
 * tfjs's `runWebGPUProgram` runs one program with one output and builds the
 * shader around the program's snippet; alae's kernels have several outputs,
 * scratch buffers and whole shaders of their own, so this drives the
 * backend's device directly, the way the backend records its own programs:
 * buffers from its buffer manager, commands into its command encoder and
 * compute pass, its deferred submission every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE
 * dispatches, its deferred release of buffers a pending command reads, and
 * its kernel timers (tf.profile, tf.time).
 *
 * A program is a whole WGSL module with entry point `main`; its bindings, in
 * group 0, are the call's buffers in order (read-only storage, or read_write
 * for outputs), then one uniform struct of 4-byte scalars when the call has
 * uniforms. Pipelines are cached per device by name and key. Only core WGSL
 * is used, so the kernels run on lavapipe and GPU drivers alike.
 *
 * Nothing here imports tfjs-backend-webgpu (an optional dependency): the
 * backend object a kernel receives is described by WebGPUBackendLike.
 */
import { tf } from '../../tf.js';
import type { TensorInfo } from '../kernel-adapter.js';

// GPUBufferUsage and GPUShaderStage values (WebGPU spec constants).
const STORAGE = 0x80, COPY_SRC = 0x04, COPY_DST = 0x08, UNIFORM = 0x40;
const COMPUTE_STAGE = 0x4;

// Minimal structural WebGPU types (no dependency on @webgpu/types).
export interface GPUBufferLike {
  readonly size: number;
  readonly usage: number;
}
interface GPUComputePassLike {
  setPipeline(p: unknown): void;
  setBindGroup(i: number, g: unknown): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}
interface GPUCommandEncoderLike {
  beginComputePass(d?: object): GPUComputePassLike;
  copyBufferToBuffer(src: GPUBufferLike, srcOffset: number, dst: GPUBufferLike, dstOffset: number, size: number): void;
}
interface GPUDeviceLike {
  readonly limits: { maxComputeWorkgroupsPerDimension: number; maxComputeWorkgroupSizeX: number; maxStorageBufferBindingSize: number; maxStorageBuffersPerShaderStage: number };
  readonly features: { has(name: string): boolean };
  readonly queue: { writeBuffer(b: GPUBufferLike, offset: number, data: ArrayBufferView | ArrayBuffer): void };
  createShaderModule(d: { code: string; label?: string }): unknown;
  createBindGroupLayout(d: { entries: object[]; label?: string }): unknown;
  createPipelineLayout(d: { bindGroupLayouts: unknown[] }): unknown;
  createComputePipeline(d: object): unknown;
  createBindGroup(d: { layout: unknown; entries: { binding: number; resource: object }[] }): unknown;
  createQuerySet(d: object): unknown;
  pushErrorScope(filter: string): void;
  popErrorScope(): Promise<{ message: string } | null>;
}

/** The parts of tfjs-backend-webgpu 4.22's WebGPUBackend the runner uses (backend_webgpu.js). */
export interface WebGPUBackendLike {
  device: GPUDeviceLike;
  bufferManager: {
    acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBufferLike;
    releaseBuffer(b: GPUBufferLike, reuse?: boolean): void;
    /** Released buffers by `${size}_${usage}`, handed out again for that exact size only. */
    freeBuffers: Map<string, GPUBufferLike[]>;
  };
  tensorMap: { get(dataId: object): { resource: unknown; dtype: string; shape: number[] } };
  commandQueueOwnedIds: WeakSet<object>;
  commandEncoder: GPUCommandEncoderLike | null;
  computePassEncoder: GPUComputePassLike | null;
  dispatchCountInPass: number;
  uniformPendingDisposal: GPUBufferLike[];
  activeTimers: { name: string; query: Promise<number> }[] | null | undefined;
  supportTimestampQuery: boolean;
  querySet: unknown;
  querySetCount: number;
  uploadToGPU(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType): TensorInfo;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  getQueryTime(): Promise<number>;
}

/** A program: `code()` builds the WGSL source, only when (name, key) is not compiled yet on the device. */
export interface WgslProgram {
  /** The pipeline's label: dispatch profiles count by it. */
  name: string;
  /** What distinguishes this variant's code from the others of the same name (sizes baked in, options). */
  key: string;
  code: () => string;
}

/** A buffer bound to a call: a tensor's, or a scratch buffer. `write` binds it read_write. */
export type Binding = { tensor: TensorInfo; write?: boolean } | { buffer: GPUBufferLike; write?: boolean };

/** Uniform values in the order of the WGSL struct's fields, each a 4-byte scalar. */
export type Uniforms = ['u32' | 'i32' | 'f32', number][];

interface Compiled {
  pipeline: unknown;
  layout: unknown;
}
const pipelines = new WeakMap<object, Map<string, Compiled>>();

/** The backend a kernel function receives, as the runner sees it. */
export const webgpuBackend = (backend: unknown): WebGPUBackendLike => backend as WebGPUBackendLike;

function compile(b: WebGPUBackendLike, program: WgslProgram, writes: boolean[], uniforms: boolean): Compiled {
  let cache = pipelines.get(b.device);
  if (!cache) pipelines.set(b.device, (cache = new Map()));
  const key = `${program.name}|${program.key}|${writes.map((w) => (w ? 'w' : 'r')).join('')}${uniforms ? 'u' : ''}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const entries: object[] = writes.map((w, i) => ({ binding: i, visibility: COMPUTE_STAGE, buffer: { type: w ? 'storage' : 'read-only-storage' } }));
  if (uniforms) entries.push({ binding: writes.length, visibility: COMPUTE_STAGE, buffer: { type: 'uniform' } });
  const d = b.device;
  d.pushErrorScope('validation');
  const layout = d.createBindGroupLayout({ entries, label: program.name });
  const module = d.createShaderModule({ code: program.code(), label: program.name });
  const pipeline = d.createComputePipeline({
    label: program.name,
    layout: d.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: 'main' },
  });
  // A shader that does not compile is a bug in alae: say which, once (the device reports asynchronously).
  void d.popErrorScope().then((e) => {
    if (e) console.error(`alae webgpu kernel ${program.name} (${program.key}) is invalid: ${e.message}`);
  });
  const compiled = { pipeline, layout };
  cache.set(key, compiled);
  return compiled;
}

function bufferOf(b: WebGPUBackendLike, binding: Binding): GPUBufferLike {
  if ('buffer' in binding) return binding.buffer;
  b.uploadToGPU(binding.tensor.dataId);
  b.commandQueueOwnedIds.add(binding.tensor.dataId);
  return b.tensorMap.get(binding.tensor.dataId).resource as GPUBufferLike;
}

function uniformBuffer(b: WebGPUBackendLike, values: Uniforms): GPUBufferLike {
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil((values.length * 4) / 16) * 16));
  const view = new DataView(bytes);
  values.forEach(([type, v], i) => {
    if (type === 'f32') view.setFloat32(4 * i, v, true);
    else if (type === 'i32') view.setInt32(4 * i, v, true);
    else view.setUint32(4 * i, v, true);
  });
  const buffer = b.bufferManager.acquireBuffer(bytes.byteLength, COPY_DST | UNIFORM);
  b.device.queue.writeBuffer(buffer, 0, bytes);
  b.uniformPendingDisposal.push(buffer);
  return buffer;
}

/** Record one dispatch of `program` over `workgroups` with the buffers bound in order. */
export function dispatch(b: WebGPUBackendLike, program: WgslProgram, bindings: Binding[], uniforms: Uniforms | null,
  workgroups: readonly [number, number, number]): void {
  if (workgroups.some((n) => n === 0)) return;
  const max = b.device.limits.maxComputeWorkgroupsPerDimension;
  if (workgroups.some((n) => n > max)) throw new Error(`${program.name}: ${workgroups.join('x')} workgroups exceed the device's ${max} per dimension`);
  const { pipeline, layout } = compile(b, program, bindings.map((x) => !!x.write), uniforms !== null);
  const entries = bindings.map((x, i) => ({ binding: i, resource: { buffer: bufferOf(b, x) } }));
  if (uniforms) entries.push({ binding: bindings.length, resource: { buffer: uniformBuffer(b, uniforms) } });
  const bindGroup = b.device.createBindGroup({ layout, entries });
  const timed = b.activeTimers != null;
  b.ensureCommandEncoderReady();
  if (timed && b.supportTimestampQuery) {
    b.endComputePassEncoder();
    if (b.querySet == null) b.querySet = b.device.createQuerySet({ type: 'timestamp', count: b.querySetCount });
    b.computePassEncoder = b.commandEncoder!.beginComputePass({
      timestampWrites: { querySet: b.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    });
  } else if (!b.computePassEncoder) {
    b.computePassEncoder = b.commandEncoder!.beginComputePass({});
  }
  const pass = b.computePassEncoder!;
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
  b.dispatchCountInPass++;
  if (timed || (tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number) <= b.dispatchCountInPass) {
    b.endComputePassEncoder();
    if (timed) b.activeTimers!.push({ name: program.name, query: b.getQueryTime() });
    else b.submitQueue();
  }
}

/** New tensors (uninitialised GPU buffers: a kernel writes every element of its outputs). */
export function outputs(b: WebGPUBackendLike, specs: { shape: number[]; dtype?: tf.DataType }[]): TensorInfo[] {
  return specs.map(({ shape, dtype }) => {
    const t = b.makeTensorInfo(shape, dtype ?? 'float32');
    if (shape.every((d) => d > 0)) b.uploadToGPU(t.dataId);
    return t;
  });
}

/**
 * The WGSL declarations of a call's bindings in the runner's order: `reads`
 * (read-only storage), `writes` (read_write storage), then, with `fields`
 * (4-byte scalars in the order of the call's Uniforms), the uniform struct
 * `u`. A storage binding is an array<f32> unless its entry says otherwise
 * ('segments: array<Segment>').
 */
export function bindings(reads: string[], writes: string[], fields?: string): string {
  const decl = (entry: string, i: number, access: string): string =>
    `@group(0) @binding(${i}) var<storage, ${access}> ${entry.includes(':') ? entry : `${entry}: array<f32>`};`;
  const lines = [...reads.map((e, i) => decl(e, i, 'read')), ...writes.map((e, i) => decl(e, reads.length + i, 'read_write'))];
  if (fields) lines.push(`struct U { ${fields} }`, `@group(0) @binding(${reads.length + writes.length}) var<uniform> u: U;`);
  return lines.join('\n');
}

/** Run `program` on `inputs`, returning new tensors of the given shapes bound after the inputs. */
export function run(b: WebGPUBackendLike, program: WgslProgram, inputs: TensorInfo[], out: { shape: number[]; dtype?: tf.DataType }[],
  uniforms: Uniforms | null, workgroups: readonly [number, number, number]): TensorInfo[] {
  const results = outputs(b, out);
  if (results.some((t) => t.shape.some((d) => d === 0)) || inputs.some((t) => t.shape.some((d) => d === 0))) return results;
  dispatch(b, program, [...inputs.map((tensor) => ({ tensor })), ...results.map((tensor) => ({ tensor, write: true }))], uniforms, workgroups);
  return results;
}

/** A scratch storage buffer of at least `bytes`, released (back to the pool) once the commands that use it are submitted. */
export function scratch(b: WebGPUBackendLike, bytes: number): GPUBufferLike {
  const buffer = b.bufferManager.acquireBuffer(Math.max(16, Math.ceil(bytes / 16) * 16), STORAGE | COPY_SRC | COPY_DST);
  b.uniformPendingDisposal.push(buffer);
  return buffer;
}

/**
 * A scratch buffer of at least `bytes` taken from tfjs's pool of released buffers, the smallest
 * free one that holds them (and binds whole), else a new one as scratch() makes. The pool
 * keeps every buffer it made and hands one out again only for its exact size, so a scratch
 * buffer of a size nothing else has (a flat buffer over a network's parameters) would stay
 * allocated for good, on top of the peak; at an optimizer step the activations' buffers are
 * free. Like scratch buffers it goes back at the next submission; until then an op that wants
 * its size makes a new buffer, so a large one is best handed back by submitting at once.
 */
export function pooledScratch(b: WebGPUBackendLike, bytes: number): GPUBufferLike {
  const usage = STORAGE | COPY_SRC | COPY_DST;
  const most = b.device.limits.maxStorageBufferBindingSize;
  let best = Infinity;
  for (const [key, free] of b.bufferManager.freeBuffers) {
    if (free.length === 0) continue;
    const [size, use] = key.split('_').map(Number);
    if (use === usage && size >= bytes && size <= most && size < best) best = size;
  }
  if (best === Infinity) return scratch(b, bytes);
  const buffer = b.bufferManager.acquireBuffer(best, usage);
  b.uniformPendingDisposal.push(buffer);
  return buffer;
}

/** Record a buffer-to-buffer copy (no dispatch); offsets and size in bytes, multiples of 4. */
export function copy(b: WebGPUBackendLike, src: Binding, srcOffset: number, dst: Binding, dstOffset: number, bytes: number): void {
  if (bytes === 0) return;
  const s = bufferOf(b, src), d = bufferOf(b, dst);
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  b.commandEncoder!.copyBufferToBuffer(s, srcOffset, d, dstOffset, bytes);
}

/**
 * `groups` workgroups in a grid, spread over x and y when x alone would pass
 * the device's limit, `z` deep. The shader's linear index over x and y is
 * wid.y * nwg.x + wid.x (the groups of the last row may run past `groups`).
 */
export function workgroupGrid(b: WebGPUBackendLike, groups: number, z = 1): [number, number, number] {
  const max = b.device.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1, z];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y, z];
}

/** Workgroups for `threads` invocations in groups of `size` (workgroupGrid); the shader's flat index is FLAT_INDEX. */
export function flatWorkgroups(b: WebGPUBackendLike, threads: number, size: number): [number, number, number] {
  return workgroupGrid(b, Math.ceil(threads / size));
}

/** The entry point's parameters that FLAT_INDEX reads. */
export const FLAT_PARAMS = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';
/** The flat invocation index of a flatWorkgroups dispatch, for a workgroup of `size`. */
export const flatIndex = (size: number): string => `((wid.y * nwg.x + wid.x) * ${size}u + lid)`;
