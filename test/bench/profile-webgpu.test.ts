/**
 * The bench's GPU profile on webgpu (a process of its own: vitest forks one per file): dispatches
 * are counted at the device, whoever encodes them, and live buffer bytes are tracked.
 */
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { resolveConfig } from '../../src/config/config.js';
import { installGpuTrace } from '../../src/bench/gpu-trace.js';
import { runRow } from '../../src/bench/run.js';
import { customKernelsOff } from '../../src/backend/kernel-adapter.js';
import type { BenchRow } from '../../src/bench/rows.js';
import { webgpuForTests } from '../setup-backend.js';

const skip = await webgpuForTests();

interface Device {
  createShaderModule(d: { code: string }): unknown;
  createComputePipeline(d: { label?: string; layout: 'auto'; compute: { module: unknown; entryPoint: string } }): unknown;
  createCommandEncoder(): { beginComputePass(): { setPipeline(p: unknown): void; dispatchWorkgroups(x: number): void; end(): void }; finish(): unknown };
  createBuffer(d: { size: number; usage: number }): { destroy(): void };
  queue: { submit(b: unknown[]): void; onSubmittedWorkDone(): Promise<void> };
}
const device = (): Device => (tf.backend() as unknown as { device: Device }).device;

describe('GPU profile (webgpu)', () => {
  it('counts tfjs programs and pipelines of our own by label, and live buffer bytes', async (ctx) => {
    if (skip) ctx.skip(skip);
    const trace = installGpuTrace()!;
    try {
      const a = tf.fill([100_000], 2);
      const b = tf.fill([100_000], 3);
      let stage = 'tfjs';
      trace.begin({ stage: () => stage });
      const c = tf.add(a, b); // one BinaryOpProgram dispatch, a 400 kB output buffer
      expect(Array.from((await c.data()).slice(0, 2))).toEqual([5, 5]);
      // A kernel of our own, on its own pipeline (as another WGSL runner would make it).
      const d = device();
      const module = d.createShaderModule({ code: '@compute @workgroup_size(1) fn main() {}' });
      const own = d.createComputePipeline({ label: 'OwnKernelProgram', layout: 'auto', compute: { module, entryPoint: 'main' } });
      const bare = d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      stage = 'ours';
      const enc = d.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(own);
      pass.dispatchWorkgroups(1);
      pass.dispatchWorkgroups(1);
      pass.setPipeline(bare);
      pass.dispatchWorkgroups(1);
      pass.end();
      d.queue.submit([enc.finish()]);
      const big = d.createBuffer({ size: 64 << 20, usage: 128 /* STORAGE */ });
      big.destroy();
      const w = trace.end();
      expect(Object.fromEntries(w.dispatches)).toEqual({ BinaryOp: 1, OwnKernel: 2, '(unlabelled)': 1 });
      expect(Object.fromEntries(w.dispatchesBy.stage)).toEqual({ tfjs: 1, ours: 3 });
      expect(w.peakBufferBytes).toBeGreaterThanOrEqual(64 << 20);
      tf.dispose([a, b, c]);
    } finally {
      trace.uninstall();
    }
  });

  it('profiles a training iteration: dispatches by program, phase and kernel, peak GPU bytes, no tensors left', async (ctx) => {
    if (skip) ctx.skip(skip);
    const row: BenchRow = { id: 'micro-train', kind: 'train', preset: 'test-micro', resolution: 8, batch: 2, label: 'train micro 8x8 b2', reference: {} };
    const before = tf.memory().numTensors;
    const r = await runRow(row, { iters: 1, warmup: 1, budgetSec: 300, config: resolveConfig('test-micro'), peakMemory: true, profile: true });
    expect(r.status, r.note).toBe('ok');
    const programs = r.dispatchesByProgram!;
    expect(r.dispatchesPerIteration).toBe(Object.values(programs).reduce((x, y) => x + y, 0));
    // A program of tfjs's and the filter gradient's: alae's kernel (through the kernel adapter) or, with them off, tfjs's.
    const filterGradient = customKernelsOff('webgpu') ? 'Conv2DDerFilter' : 'AlaeConv2DBackpropFilter';
    for (const p of ['BinaryOp', filterGradient]) expect(programs[p], p).toBeGreaterThan(0);
    expect(r.kernelsByName!.Conv2DBackpropFilter).toBeGreaterThan(0);
    // The same dispatches by phase, in the order of the iteration, and by tfjs kernel.
    const total = (m: Record<string, number>): number => Object.values(m).reduce((x, y) => x + y, 0);
    const phases = Object.keys(r.dispatchesByPhase!);
    expect(total(r.dispatchesByPhase!)).toBe(r.dispatchesPerIteration);
    expect(total(r.dispatchesByKernel!)).toBe(r.dispatchesPerIteration);
    for (const p of ['step 1 (E, D): inner forward', 'step 1 (E, D): inner backward', 'step 1 (E, D): backward', 'step 2 (F, G): forward', 'step 3 (E, G, F): backward', 'averaging: untaped']) expect(phases, p).toContain(p);
    expect(phases.indexOf('step 1 (E, D): backward')).toBeLessThan(phases.indexOf('step 2 (F, G): forward'));
    expect(r.dispatchesByKernel!.Conv2DBackpropFilter).toBeGreaterThan(0);
    expect(r.profiledIteration).toBe(2);
    expect(r.peakGpuBytes).toBeGreaterThan(0);
    expect(r.peakBytes).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});
