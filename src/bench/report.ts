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
  const head = ['row', 'result', refHead, 'ratio', 'vs H100', 'peak tensor MiB', 'time'];
  const cells = res.rows.map((r) => [
    r.label,
    r.status === 'ok' && r.value !== null ? value(r.value, r.unit) : STATUS[r.status] ?? r.status,
    r.reference ? value(r.reference.value, r.unit) : '-',
    r.ratio !== null ? `${r.ratio.toPrecision(2)}x` : '-',
    r.ratioH100 !== null ? `${r.ratioH100.toPrecision(2)}x` : '-',
    r.peakBytes !== null ? (r.peakBytes / 2 ** 20).toFixed(0) : '-',
    `${r.seconds.toFixed(0)} s`,
  ]);
  const widths = head.map((t, i) => Math.max(t.length, ...cells.map((c) => c[i].length)));
  const fmt = (c: string[]) => c.map((t, i) => (i === 0 ? t.padEnd(widths[i]) : t.padStart(widths[i]))).join('  ');
  lines.push(fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(fmt));
  const notes = res.rows.filter((r) => r.note).map((r) => `  ${r.id}: ${r.note}`);
  if (notes.length) lines.push('', 'notes:', ...notes);
  lines.push(
    '',
    'ratio: speed relative to the reference on the same kind of device (>1 is faster); training rows in images/s, inference in ms per encode + decode.',
    'peak tensor MiB: the most bytes held by live tensors during one profiled iteration (tf.profile peakBytes), as tfjs counts them, not the device allocator.',
  );
  return lines.join('\n');
}
