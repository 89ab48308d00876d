// bench/gpu.sh's last step: one JSON with the webgpu parity, alae's rows (speed, dispatch
// profile, peak memory) and the reference's rows from the same run side by side, and a table.
// Usage: node bench/gpu-report.mjs <work dir of gpu.sh> <out.json> <seconds the run took> <rows, comma-separated>
// The work dir holds parity.txt (`alae parity` output), reference.jsonl (bench.py's lines),
// bench-<row>.json (`alae bench --out`) and bench-<row>.skipped.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../dist/util/atomic.js';

const [work, out, seconds, rowList] = process.argv.slice(2);
const read = (f) => (existsSync(join(work, f)) ? readFileSync(join(work, f), 'utf8') : null);

/** `alae parity` lines: `# <dir>`, `case <name> max_rel_err <v> ok|FAIL|not run  (detail)`, `N passed, M failed`. */
function parity(text) {
  if (text === null) return null;
  const folders = {};
  let folder = 'all';
  for (const line of text.split('\n')) {
    const h = /^# (.+?)\/?$/.exec(line);
    if (h) folder = h[1].split('/').pop();
    const c = /^case (\S+) max_rel_err (\S+) (ok|FAIL|not run)(?:\s+\((.*)\))?$/.exec(line);
    if (c) (folders[folder] ??= []).push({ name: c[1], err: c[2] === '-' ? null : Number(c[2]), status: c[3], ...(c[4] ? { detail: c[4] } : {}) });
  }
  const all = Object.values(folders).flat();
  const summary = /(\d+) passed, (\d+) failed/.exec(text);
  const count = (status) => all.filter((c) => c.status === status).length;
  return { folders, passed: count('ok'), failed: count('FAIL'), notRun: count('not run'), complete: Boolean(summary), ...(all.length ? {} : { output: text.trim().slice(-500) }) };
}

const reference = new Map();
for (const line of (read('reference.jsonl') ?? '').split('\n')) {
  try {
    const r = JSON.parse(line);
    if (r.row) reference.set(r.row, r);
  } catch {
    /* not a result line */
  }
}

let header = null;
const rows = [];
for (const id of rowList.split(',')) {
  const text = read(`bench-${id}.json`) ?? read(`bench-${id}.skipped`);
  if (text === null) {
    rows.push({ id, alae: { status: 'no result', note: 'alae bench wrote nothing for this row' }, reference: reference.get(id) ?? null, ratio: null });
    continue;
  }
  const j = JSON.parse(text);
  if (j.skipped) {
    rows.push({ id, alae: { status: 'skipped', note: j.skipped }, reference: reference.get(id) ?? null, ratio: null });
    continue;
  }
  header ??= j.header;
  for (const r of j.rows) {
    const ref = reference.get(r.id) ?? null;
    const ok = r.status === 'ok' && r.value !== null && ref && !ref.error;
    const ratio = !ok ? null : r.unit === 'img/s' ? r.value / ref.img_per_s : ref.ms / r.value;
    const { reference: _h100, ratio: _r, ratioH100: _r100, ...alae } = r;
    rows.push({ id: r.id, label: r.label, alae, reference: ref, ratio, ratioH100: r.ratioH100 });
  }
}
for (const [id, ref] of reference) if (!rows.some((r) => r.id === id)) rows.push({ id, alae: null, reference: ref, ratio: null });

const result = {
  date: new Date().toISOString(),
  seconds: Number(seconds),
  device: header?.device ?? null,
  tfjs: header?.tfjs ?? null,
  node: header?.node ?? process.version,
  parity: parity(read('parity.txt')),
  rows,
  notes: [
    'ratio: alae against the reference of this run (> 1: alae faster); training in img/s, inference in ms per encode + decode',
    'alae rows: webgpu, one child process each, --profile (dispatches and peak memory of the second iteration)',
  ],
};
await writeFileAtomic(out, JSON.stringify(result, null, 2) + '\n');

const fmt = (v, d = 3) => (v === null || v === undefined ? '-' : Number(v).toPrecision(d));
console.log(`\n${result.device ?? 'no alae rows'} · ${result.seconds} s`);
const p = result.parity;
if (p) console.log(`parity on webgpu: ${p.passed} passed, ${p.failed} failed, ${p.notRun} not run${p.complete ? '' : ' (cut short)'}`);
console.log('row                  alae            reference       ratio  dispatches/it  peak GPU MiB  ref max GiB');
for (const r of rows) {
  const a = r.alae;
  const av = a?.status === 'ok' ? `${fmt(a.value)} ${a.unit}` : (a?.status ?? '-');
  const rv = r.reference ? (r.reference.error ? 'error' : r.reference.img_per_s !== undefined ? `${fmt(r.reference.img_per_s)} img/s` : `${fmt(r.reference.ms)} ms`) : '-';
  console.log(`${r.id.padEnd(20)} ${av.padEnd(15)} ${rv.padEnd(15)} ${fmt(r.ratio, 2).padStart(5)}  ${String(a?.dispatchesPerIteration ?? '-').padStart(13)}  ${(a?.peakGpuBytes ? (a.peakGpuBytes / 2 ** 20).toFixed(0) : '-').padStart(12)}  ${fmt(r.reference?.max_mem_gib).padStart(11)}`);
}
console.log(`wrote ${out}`);
