/**
 * `<out>/metrics.jsonl`: one JSON object per report, appended. Appending
 * (rather than rewriting the file atomically each time) keeps a long run's
 * reports O(1); what a crash can leave behind (a cut-off last line, or
 * lines past the checkpoint a run resumes from) is repaired by
 * `repairMetrics`, which rewrites the file atomically.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.js';
import type { MetricsRecord } from './checkpoint.js';

export const METRICS_FILE = 'metrics.jsonl';

export async function appendMetrics(path: string, r: MetricsRecord): Promise<void> {
  await appendFile(path, JSON.stringify(r) + '\n');
}

/** Parse a metrics file; unparseable lines (a line cut by a crash) are skipped. */
export async function readMetrics(path: string): Promise<MetricsRecord[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const out: MetricsRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as MetricsRecord);
    } catch {
      /* a partial line from an interrupted write */
    }
  }
  return out;
}

/**
 * Keep only the reports up to `kimg` (the position a run resumes from), so
 * the file never holds reports of iterations that are about to be redone.
 */
export async function repairMetrics(path: string, kimg: number): Promise<void> {
  const all = await readMetrics(path);
  const keep = all.filter((r) => r.kimg <= kimg + 1e-9);
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return;
  }
  const wanted = keep.map((r) => JSON.stringify(r) + '\n').join('');
  if (wanted !== text) await writeFileAtomic(path, wanted);
}
