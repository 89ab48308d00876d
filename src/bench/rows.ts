/**
 * The benchmark rows and the reference figures they are compared with:
 * PyTorch fp32 (TF32 convolutions, cudnn benchmark) on one H100, and PyTorch
 * on the 2-core CPU of the development machine (../shared/gpu/README.md and
 * the project brief; the CPU figures are the medians of bench/vs-reference.sh
 * in README's Speed section, train-celeba-64's from an earlier day). Only a
 * same-run ratio means much on a shared machine: bench/vs-reference.sh. A training row times one full iteration (three steps,
 * R1, averaged-weights update); an inference row one encode + decode.
 */
export type RowKind = 'train' | 'infer';

export interface BenchRow {
  id: string;
  kind: RowKind;
  preset: string;
  resolution: number;
  batch: number;
  label: string;
  /** Reference figures: img/s for training rows, ms for inference rows (none for rows the reference was not run on). */
  reference: { h100?: number; cpu?: number };
}

export const ROWS: readonly BenchRow[] = [
  // A whole training iteration in seconds on a CPU (WebGPU over lavapipe included): for dispatch counts and peak memory.
  { id: 'train-tiny32', kind: 'train', preset: 'test-tiny32', resolution: 32, batch: 8, label: 'train test-tiny32 32x32 b8', reference: {} },
  { id: 'train-mnist-32', kind: 'train', preset: 'mnist', resolution: 32, batch: 128, label: 'train mnist 32x32 b128', reference: { h100: 730, cpu: 8.71 } },
  { id: 'train-celeba-64', kind: 'train', preset: 'celeba-hq256', resolution: 64, batch: 32, label: 'train celeba-hq256 64x64 b32', reference: { h100: 90, cpu: 0.14 } },
  { id: 'train-celeba-128', kind: 'train', preset: 'celeba-hq256', resolution: 128, batch: 16, label: 'train celeba-hq256 128x128 b16', reference: { h100: 41.9 } },
  { id: 'train-celeba-256', kind: 'train', preset: 'celeba-hq256', resolution: 256, batch: 16, label: 'train celeba-hq256 256x256 b16', reference: { h100: 9.4 } },
  { id: 'train-ffhq-1024', kind: 'train', preset: 'ffhq', resolution: 1024, batch: 16, label: 'train ffhq 1024x1024 b16', reference: { h100: 1.19 } },
  { id: 'infer-celeba-b1', kind: 'infer', preset: 'celeba-hq256', resolution: 256, batch: 1, label: 'encode+decode celeba-hq256 b1', reference: { h100: 13.6, cpu: 2800 } },
  { id: 'infer-celeba-b32', kind: 'infer', preset: 'celeba-hq256', resolution: 256, batch: 32, label: 'encode+decode celeba-hq256 b32', reference: { h100: 40.9 } },
  { id: 'infer-ffhq-b1', kind: 'infer', preset: 'ffhq', resolution: 1024, batch: 1, label: 'encode+decode ffhq b1', reference: { h100: 17.9, cpu: 12000 } },
];

/** Rows by id; `all` or an empty list gives every row. Unknown ids are reported. */
export function selectRows(ids: string[] | undefined, rows: readonly BenchRow[] = ROWS): { rows: BenchRow[]; unknown: string[] } {
  if (!ids || ids.length === 0 || ids.includes('all')) return { rows: [...rows], unknown: [] };
  const want = new Set(ids);
  const picked = rows.filter((r) => want.has(r.id) || want.has(r.kind));
  const known = new Set([...rows.map((r) => r.id), 'train', 'infer']);
  return { rows: picked, unknown: ids.filter((i) => !known.has(i)) };
}
