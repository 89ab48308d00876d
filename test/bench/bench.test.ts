import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { resolveConfig } from '../../src/config/config.js';
import { countParams, paramSpecs } from '../../src/model/params.js';
import { ROWS, selectRows, type BenchRow } from '../../src/bench/rows.js';
import { isMemoryError, runRow } from '../../src/bench/run.js';
import { formatTable, withReference, type BenchResults } from '../../src/bench/report.js';
import { traceKernels } from '../../src/bench/kernel-trace.js';
import { testBackend } from '../setup-backend.js';

beforeAll(testBackend);

const micro = resolveConfig('test-micro');
const trainRow: BenchRow = { id: 'micro-train', kind: 'train', preset: 'test-micro', resolution: 4, batch: 2, label: 'train micro 4x4 b2', reference: { h100: 100, cpu: 2 } };
const inferRow: BenchRow = { id: 'micro-infer', kind: 'infer', preset: 'test-micro', resolution: 16, batch: 1, label: 'enc+dec micro b1', reference: { h100: 1, cpu: 50 } };

describe('bench rows', () => {
  it('selects rows by id or kind and reports unknown ids', () => {
    expect(selectRows(undefined).rows).toHaveLength(ROWS.length);
    expect(selectRows(['all']).rows).toHaveLength(ROWS.length);
    expect(selectRows(['train']).rows.map((r) => r.id)).toEqual(['train-tiny32', 'train-mnist-32', 'train-celeba-64', 'train-celeba-128', 'train-celeba-256', 'train-ffhq-1024']);
    expect(selectRows(['infer-ffhq-b1', 'nope']).unknown).toEqual(['nope']);
    // Every row is a level of its preset.
    for (const r of ROWS) {
      const L = resolveConfig(r.preset).model.layerCount;
      expect(Number.isInteger(Math.log2(r.resolution / 4)) && r.resolution <= 2 ** (L + 1), r.id).toBe(true);
    }
  });

  it('times a training iteration and an encode + decode, leaving no tensors', async () => {
    const before = tf.memory().numTensors;
    const soFar: Array<{ warmup: number; times: number; profiled: boolean }> = [];
    const t = await runRow(trainRow, {
      iters: 2, warmup: 1, budgetSec: 120, config: micro, peakMemory: true, profile: true,
      onIteration: (r) => soFar.push({ warmup: r.warmup.length, times: r.times.length, profiled: r.kernelsPerIteration !== undefined && r.peakBytes !== null }),
    });
    expect(t.status).toBe('ok');
    // After every iteration, what was measured so far: the profile as soon as the first iteration ends.
    expect(soFar).toEqual([{ warmup: 1, times: 0, profiled: true }, { warmup: 1, times: 1, profiled: true }, { warmup: 1, times: 2, profiled: true }]);
    // The figures describe the second iteration (the first creates the optimizers' state).
    expect(t.profiledIteration).toBe(2);
    expect(t.times).toHaveLength(2);
    expect(t.value).toBeCloseTo((2 * 2) / (t.times[0] + t.times[1]), 6);
    // The model's parameters alone (two copies, trained and averaged) are live throughout.
    expect(t.peakBytes).toBeGreaterThan(2 * 4 * countParams(paramSpecs(micro.model)));
    // --profile: tfjs kernels of the iteration by name; GPU figures only on webgpu.
    const byName = t.kernelsByName!;
    expect(t.kernelsPerIteration).toBe(Object.values(byName).reduce((a, b) => a + b, 0));
    expect(byName.Conv2D).toBeGreaterThan(0);
    expect(byName.Conv2DBackpropFilter).toBeGreaterThan(0);
    expect(Object.values(byName)).toEqual([...Object.values(byName)].sort((a, b) => b - a));
    expect(t.dispatchesPerIteration).toBeUndefined();
    expect(t.dispatchesByPhase).toBeUndefined();
    expect(t.peakGpuBytes).toBeNull();
    const i = await runRow(inferRow, { iters: 3, warmup: 1, budgetSec: 120, config: micro });
    expect(i.status).toBe('ok');
    expect(i.value).toBeCloseTo([...i.times].sort((a, b) => a - b)[1] * 1000, 6); // median ms
    expect(tf.memory().numTensors).toBe(before);
  });

  it('counts kernels by name and the peak tensor bytes, then leaves the engine as it was', () => {
    const a = tf.ones([1000]);
    const before = tf.memory().numBytes;
    const trace = traceKernels();
    const b = tf.add(a, a);
    const c = tf.mul(b, b);
    b.dispose();
    const counts = trace.stop();
    expect(counts.byName).toEqual(new Map([['Add', 1], ['Multiply', 1]]));
    expect(counts.peakTensorBytes).toBe(before + 2 * 4000);
    tf.dispose([tf.sub(c, a), c, a]); // not counted: the trace has stopped
    expect(counts.byName.size).toBe(2);
  });

  it('says over budget instead of running on, and reports errors as a status', async () => {
    const r = await runRow(inferRow, { iters: 5, warmup: 1, budgetSec: 1e-6, config: micro });
    expect(r.status).toBe('over-budget');
    expect(r.value).toBeNull();
    expect(r.note).toMatch(/budget/);
    const bad = await runRow({ ...inferRow, resolution: 64 }, { iters: 1, warmup: 0, budgetSec: 10, config: micro });
    expect(bad.status).toBe('failed');
    expect(bad.note).toMatch(/not a level/);
    expect(isMemoryError(new RangeError('Array buffer allocation failed'))).toBe(true);
    expect(isMemoryError(new Error('shape mismatch'))).toBe(false);
  });

  it('compares with the reference of the same kind of device and formats the table', () => {
    const res = (value: number | null, status: 'ok' | 'over-budget' = 'ok') => ({ id: 'x', status, value, unit: 'img/s' as const, iterations: 1, times: [1], warmup: [1], peakBytes: null, peakGpuBytes: null, seconds: 3 });
    const cpuTrain = withReference(trainRow, res(1), 'cpu');
    expect(cpuTrain.ratio).toBe(0.5); // 1 img/s vs 2 img/s
    expect(cpuTrain.ratioH100).toBe(0.01);
    const gpuInfer = withReference(inferRow, { ...res(4), unit: 'ms' }, 'gpu');
    expect(gpuInfer.ratio).toBe(0.25); // 4 ms vs 1 ms: a quarter of the speed
    const over = withReference(trainRow, res(null, 'over-budget'), 'cpu');
    const table = formatTable({
      header: { backend: 'cpu', device: 'Test CPU x2', deviceKind: 'cpu', tfjs: '4.22.0', node: 'v20', os: 'linux', date: '', iters: 3, warmup: 1, budgetSec: 60 },
      rows: [cpuTrain, gpuInfer, { ...over, note: 'one warm-up iteration took 90.0 s' }],
    } satisfies BenchResults);
    expect(table).toContain('backend cpu · Test CPU x2');
    expect(table).toMatch(/train micro 4x4 b2\s+1\.00 img\/s\s+2\.00 img\/s\s+0\.50x\s+0\.010x/);
    expect(table).toMatch(/train micro 4x4 b2\s+over budget/);
    expect(table).toContain('x: one warm-up iteration took 90.0 s');
    expect(table).not.toMatch(/dispatches|peak GPU/); // columns only where some row has them

    // --profile on webgpu: dispatch and kernel columns, then the breakdowns, most first.
    const programs = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`P${i}`, 30 - i]));
    const phases = { 'step 1 (E, D): untaped': 5, 'step 1 (E, D): forward': 300, 'step 1 (E, D): backward': 160 };
    const profiled = { ...cpuTrain, peakGpuBytes: 3 * 2 ** 20, dispatchesPerIteration: 465, dispatchesByProgram: programs, dispatchesByPhase: phases, dispatchesByKernel: { Conv2D: 400, Add: 65 }, kernelsPerIteration: 7, kernelsByName: { Add: 4, Conv2D: 3 } };
    const gpuTable = formatTable({
      header: { backend: 'webgpu', device: 'Test GPU', deviceKind: 'gpu', tfjs: '4.22.0', node: 'v20', os: 'linux', date: '', iters: 3, warmup: 1, budgetSec: 60 },
      rows: [profiled],
    });
    expect(gpuTable).toMatch(/peak GPU MiB\s+dispatches\/it\s+tfjs kernels\/it/);
    expect(gpuTable).toMatch(/train micro 4x4 b2 .*\s3\s+465\s+7\s/);
    expect(gpuTable).toContain('x: GPU dispatches per iteration by program (465)');
    expect(gpuTable).toMatch(/\n  P0\s+30\n  P1\s+29\n/);
    expect(gpuTable).toContain('(5 more: 15)'); // P25..P29: 5+4+3+2+1
    // Phases in the order of the iteration, not by count.
    expect(gpuTable).toMatch(/x: GPU dispatches by phase.*\n  step 1 \(E, D\): untaped\s+5\n  step 1 \(E, D\): forward\s+300\n  step 1 \(E, D\): backward\s+160\n/);
    expect(gpuTable).toMatch(/x: GPU dispatches by the outermost tfjs kernel that made them\n  Conv2D\s+400\n  Add\s+65\n/);
    expect(gpuTable).toContain('x: tfjs kernels per iteration by name (7; kernels, not GPU dispatches)');
  });
});

const ROOT = resolve(__dirname, '../..');
const MAIN = join(ROOT, 'dist/cli/main.js');

describe('alae bench (built CLI)', () => {
  beforeAll(() => {
    const built = join(ROOT, 'dist/cli/bench.js');
    const stale = !existsSync(built) || ['src/cli/bench.ts', 'src/bench/run.ts', 'src/bench/report.ts', 'src/bench/rows.ts'].some((f) => statSync(join(ROOT, f)).mtimeMs > statSync(built).mtimeMs);
    if (stale) {
      try {
        execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
      } catch {
        /* type errors elsewhere still emit */
      }
    }
  }, 180_000);

  it('isolates a row in a child process and stops it at the budget, still writing the JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'alae-bench-'));
    const out = join(dir, 'b.json');
    const r = spawnSync(process.execPath, [MAIN, 'bench', '--rows', 'infer-ffhq-b1', '--budget-s', '1', '--iters', '1', '--backend', 'cpu', '--out', out], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/encode\+decode ffhq b1\s+over budget/);
    const json = JSON.parse(await readFile(out, 'utf8')) as BenchResults;
    expect(json.header).toMatchObject({ backend: 'cpu', deviceKind: 'cpu', budgetSec: 1 });
    expect(json.header.tfjs).toMatch(/^4\./);
    expect(json.rows[0]).toMatchObject({ id: 'infer-ffhq-b1', status: 'over-budget', value: null });
    await rm(dir, { recursive: true, force: true });
  });
});
