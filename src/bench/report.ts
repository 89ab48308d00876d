/** The benchmark's header (what ran where) and its table. */
import os from 'node:os';
import { tf } from '../tf.js';
import type { BenchRow } from './rows.js';
import type { RowResult } from './run.js';

export interface BenchHeader {
  backend: string;
  device: string;
  /** 'gpu' compares with the H100 figures, 'cpu' with the 2-core CPU ones. */
  deviceKind: 'gpu' | 'cpu';
  tfjs: string;
  node: string;
  os: string;
  date: string;
  iters: number;
  warmup: number;
  budgetSec: number;
}

export interface BenchResultRow extends RowResult {
  label: string;
  kind: BenchRow['kind'];
  preset: string;
  resolution: number;
  batch: number;
  reference: { device: 'H100 PyTorch' | '2-core CPU PyTorch'; value: number } | null;
  /** Speed relative to the reference on the same kind of device (> 1: faster). */
  ratio: number | null;
  /** Speed relative to the H100 reference. */
  ratioH100: number | null;
}

export interface BenchResults {
  header: BenchHeader;
  rows: BenchResultRow[];
}

function cpuName(): string {
  const c = os.cpus();
  return c.length ? `${c[0].model.trim()} x${c.length}` : 'unknown CPU';
}

/** A description of the GPU adapter when the webgpu backend is in use. */
async function gpuName(): Promise<string | null> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  if (!gpu) return null;
  try {
    const a = (await gpu.requestAdapter()) as { info?: Record<string, string>; requestAdapterInfo?: () => Promise<Record<string, string>> } | null;
    const info = a?.info ?? (a?.requestAdapterInfo ? await a.requestAdapterInfo() : undefined);
    if (!info) return 'WebGPU adapter';
    const parts = [info.description, info.vendor, info.architecture, info.device].filter((s) => s && String(s).trim());
    return parts.length ? parts.join(' / ') : 'WebGPU adapter';
  } catch {
    return 'WebGPU adapter';
  }
}

export async function benchHeader(backend: string, o: { iters: number; warmup: number; budgetSec: number }): Promise<BenchHeader> {
  const gpu = backend === 'webgpu' ? await gpuName() : null;
  const deviceKind = backend === 'webgpu' || backend === 'tensorflow-gpu' ? 'gpu' : 'cpu';
  return {
    backend,
    device: gpu ? `${gpu} (host ${cpuName()})` : cpuName(),
    deviceKind,
    tfjs: (tf as unknown as { version_core: string }).version_core,
    node: process.version,
    os: `${os.platform()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    ...o,
  };
}

/** Attach the reference figures and ratios to a row's result. */
export function withReference(row: BenchRow, r: RowResult, deviceKind: 'gpu' | 'cpu'): BenchResultRow {
  const refValue = deviceKind === 'gpu' ? row.reference.h100 : row.reference.cpu;
  const ratioOf = (ref: number | undefined): number | null => {
    if (ref === undefined || r.value === null || r.status !== 'ok') return null;
    return row.kind === 'train' ? r.value / ref : ref / r.value;
  };
  return {
    ...r,
    label: row.label,
    kind: row.kind,
    preset: row.preset,
    resolution: row.resolution,
    batch: row.batch,
    reference: refValue !== undefined ? { device: deviceKind === 'gpu' ? 'H100 PyTorch' : '2-core CPU PyTorch', value: refValue } : null,
    ratio: ratioOf(refValue),
    ratioH100: ratioOf(row.reference.h100),
  };
}

/** The largest counts (or, unsorted, the first), one per line, then what the rest add up to. */
function breakdown(counts: Record<string, number>, top = 25, sorted = true): string[] {
  const all = Object.entries(counts);
  if (sorted) all.sort((a, b) => b[1] - a[1]);
  const w = Math.max(...all.slice(0, top).map(([k]) => k.length));
  const lines = all.slice(0, top).map(([k, n]) => `  ${k.padEnd(w)}  ${String(n).padStart(7)}`);
  const rest = all.slice(top);
  if (rest.length) lines.push(`  (${rest.length} more: ${rest.reduce((a, [, n]) => a + n, 0)})`);
  return lines;
}

function value(v: number, unit: string): string {
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : v >= 0.01 ? 3 : 5;
  return `${v.toFixed(digits)} ${unit}`;
}

const STATUS: Record<string, string> = { 'over-budget': 'over budget', 'out-of-memory': 'out of memory', failed: 'failed' };

/** The table as text (header lines, then one line per row). */
export function formatTable(res: BenchResults): string {
  const h = res.header;
  const lines = [
    `alae bench · backend ${h.backend} · ${h.device}`,
    `tfjs ${h.tfjs} · node ${h.node} · ${h.os} · ${h.warmup} warm-up + ${h.iters} timed iterations, budget ${h.budgetSec} s per row`,
    '',
  ];
  const refHead = h.deviceKind === 'gpu' ? 'H100 PyTorch' : 'CPU PyTorch';
  const mib = (b: number | null | undefined): string => (b != null ? (b / 2 ** 20).toFixed(0) : '-');
  const count = (n: number | undefined): string => (n !== undefined ? String(n) : '-');
  const columns: Array<[string, (r: BenchResultRow) => string]> = [
    ['row', (r) => r.label],
    ['result', (r) => (r.status === 'ok' && r.value !== null ? value(r.value, r.unit) : STATUS[r.status] ?? r.status)],
    [refHead, (r) => (r.reference ? value(r.reference.value, r.unit) : '-')],
    ['ratio', (r) => (r.ratio !== null ? `${r.ratio.toPrecision(2)}x` : '-')],
    ['vs H100', (r) => (r.ratioH100 !== null ? `${r.ratioH100.toPrecision(2)}x` : '-')],
    ['peak tensor MiB', (r) => mib(r.peakBytes)],
  ];
  // Columns only where some row has the figure (webgpu, --profile).
  const some = (f: (r: BenchResultRow) => unknown): boolean => res.rows.some((r) => f(r) != null);
  if (some((r) => r.peakGpuBytes)) columns.push(['peak GPU MiB', (r) => mib(r.peakGpuBytes)]);
  if (some((r) => r.dispatchesPerIteration)) columns.push(['dispatches/it', (r) => count(r.dispatchesPerIteration)]);
  if (some((r) => r.kernelsPerIteration)) columns.push(['tfjs kernels/it', (r) => count(r.kernelsPerIteration)]);
  columns.push(['time', (r) => `${r.seconds.toFixed(0)} s`]);
  const head = columns.map((c) => c[0]);
  const cells = res.rows.map((r) => columns.map((c) => c[1](r)));
  const widths = head.map((t, i) => Math.max(t.length, ...cells.map((c) => c[i].length)));
  const fmt = (c: string[]) => c.map((t, i) => (i === 0 ? t.padEnd(widths[i]) : t.padStart(widths[i]))).join('  ');
  lines.push(fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(fmt));
  for (const r of res.rows) {
    if (r.dispatchesByProgram) lines.push('', `${r.id}: GPU dispatches per iteration by program (${r.dispatchesPerIteration})`, ...breakdown(r.dispatchesByProgram));
    if (r.dispatchesByPhase) lines.push('', `${r.id}: GPU dispatches by phase, in order (inner: R1's gradient, itself differentiated)`, ...breakdown(r.dispatchesByPhase, Infinity, false));
    if (r.dispatchesByKernel) lines.push('', `${r.id}: GPU dispatches by the outermost tfjs kernel that made them`, ...breakdown(r.dispatchesByKernel));
    if (r.kernelsByName) lines.push('', `${r.id}: tfjs kernels per iteration by name (${r.kernelsPerIteration}; kernels, not GPU dispatches)`, ...breakdown(r.kernelsByName));
  }
  const notes = res.rows.filter((r) => r.note).map((r) => `  ${r.id}: ${r.note}`);
  if (notes.length) lines.push('', 'notes:', ...notes);
  lines.push(
    '',
    'ratio: speed relative to the reference on the same kind of device (>1 is faster); training rows in images/s, inference in ms per encode + decode.',
    'peak tensor MiB: the most bytes held by live tensors during one iteration (the second; profiledIteration in the JSON), as tfjs counts them (a tensor that shares another\'s buffer, a reshape or a clone, counts again).',
  );
  if (some((r) => r.peakGpuBytes)) lines.push('peak GPU MiB: the most bytes in live WebGPU buffers during that iteration, tfjs\'s pool of freed buffers included.');
  if (some((r) => r.dispatchesPerIteration)) lines.push('dispatches/it: GPU compute dispatches in that iteration, counted at the device (every WGSL runner).');
  return lines.join('\n');
}
