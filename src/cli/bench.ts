/**
 * `alae bench` (npm run bench): training and inference speed, as a table and
 * a JSON file. Each row runs in a child process of its own so a row that
 * runs out of memory or past its time budget is reported as such and the
 * others still run (`--in-process` runs them here, without that guard).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backendOption, parse, setupBackend } from './args.js';
import { AlaeError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { ROWS, selectRows, type BenchRow } from '../bench/rows.js';
import { isMemoryError, runRow, type RowOptions, type RowResult } from '../bench/run.js';
import { type BenchResults, benchHeader, formatTable, withReference } from '../bench/report.js';

const USAGE = `usage: alae bench [--rows <ids>] [--iters N] [--warmup N] [--budget-s S] [--backend B] [--out file.json] [--peak-mem] [--profile] [--in-process]

  --rows <ids>     comma-separated row ids, 'train', 'infer' or 'all' (default all):
${ROWS.map((r) => `                     ${r.id.padEnd(18)} ${r.label}`).join('\n')}
  --iters N        timed iterations per row (default 3)
  --warmup N       warm-up iterations per row (default 1)
  --budget-s S     wall-clock limit per row, setup included (default 600); a row past it says so
  --out <file>     where the JSON goes (default bench-results.json)
  --peak-mem       measure the peak tensor bytes of the second iteration (the first one creates the
                   optimizers' state; with one warm-up, the first timed iteration, timed with the
                   counting in it), and on webgpu the peak GPU buffer bytes; default on for webgpu,
                   --no-peak-mem turns it off
  --profile        also count, in that iteration, GPU dispatches (webgpu) by program, by phase of
                   the training iteration and by tfjs kernel, and tfjs kernels by name (any
                   backend); printed and written to the JSON
  --in-process     run the rows in this process (no memory or time isolation)
  --backend <name> auto|tensorflow-gpu|tensorflow|webgpu|native|wasm|cpu (or ALAE_BACKEND)
`;

const RESULT_TAG = 'ALAE_BENCH_RESULT ';
/** What a child has measured so far, after each iteration. */
const PARTIAL_TAG = 'ALAE_BENCH_SO_FAR ';

function positiveInt(v: string | undefined, name: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isInteger(x) || x < min) throw new AlaeError(`--${name} must be an integer >= ${min} (got '${v}')`);
  return x;
}

/** Run one row in a child process (`alae bench --child <id>`), enforcing the budget from outside too. */
function runChild(row: BenchRow, args: string[], budgetSec: number, onLine: (s: string) => void): Promise<RowResult> {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const start = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, main, 'bench', '--child', row.id, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let result: RowResult | null = null;
    let partial: RowResult | null = null;
    let out = '';
    let err = '';
    let killedForTime = false;
    // Dawn reports a failed GPU allocation as validation errors on the child's output
    // ("Invalid Buffer ... is invalid due to a previous error"), not as a thrown error.
    let memoryTrouble: string | null = null;
    let errorLines = 0;
    const watch = (l: string): boolean => {
      const bad = /OutOfMemory|out of memory|Invalid Buffer|Failed to allocate|allocation failed|device (was )?lost/i.test(l);
      if (bad) memoryTrouble ??= l.trim().slice(0, 160);
      const noisy = bad || /^\s*(- While|validation:|\[Invalid)/.test(l);
      if (noisy) errorLines++;
      return !noisy || errorLines <= 3; // forward the first few, not the flood
    };
    // The child stops itself between iterations; this catches an iteration that alone runs past the budget.
    const limit = setTimeout(() => {
      killedForTime = true;
      child.kill('SIGKILL');
    }, (budgetSec * 1.2 + 10) * 1000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith(RESULT_TAG) || l.startsWith(PARTIAL_TAG)) {
          try {
            const r = JSON.parse(l.slice(l.indexOf(' ') + 1)) as RowResult;
            if (l.startsWith(RESULT_TAG)) result = r;
            else partial = r;
          } catch {
            /* ignore */
          }
        } else if (l.trim() && watch(l)) onLine(l);
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      for (const l of String(d).split('\n')) watch(l);
      if (err.length > 1e6) err = err.slice(-1e5);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(limit);
      const seconds = (performance.now() - start) / 1000;
      if (result && !(memoryTrouble && result.status !== 'ok')) {
        const r = result as RowResult;
        return resolve({ ...r, seconds, note: memoryTrouble && r.status === 'ok' ? [r.note, `GPU errors during the run: ${memoryTrouble}`].filter(Boolean).join('; ') : r.note });
      }
      // What the child measured before it stopped (warm-up times, the profile) stays in the row.
      const sofar = partial as RowResult | null;
      const base: RowResult = sofar
        ? { ...sofar, status: 'failed', value: null, seconds }
        : { id: row.id, status: 'failed', value: null, unit: row.kind === 'train' ? 'img/s' : 'ms', iterations: 0, times: [], warmup: [], peakBytes: null, peakGpuBytes: null, seconds };
      const lastErr = err.trim().split('\n').filter(Boolean).slice(-3).join(' | ').slice(0, 300);
      if (memoryTrouble) resolve({ ...base, status: 'out-of-memory', note: `GPU allocation failed: ${memoryTrouble}${killedForTime ? ` (then stopped after ${seconds.toFixed(0)} s)` : ''}` });
      else if (killedForTime) resolve({ ...base, status: 'over-budget', note: `stopped after ${seconds.toFixed(0)} s: one iteration takes longer than the ${budgetSec} s budget` });
      else if (signal === 'SIGKILL' || isMemoryError(err)) resolve({ ...base, status: 'out-of-memory', note: signal ? `killed by ${signal} (likely the out-of-memory killer)` : lastErr });
      else resolve({ ...base, note: `exit ${code ?? signal}: ${lastErr}` });
    });
  });
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...backendOption,
    rows: { type: 'string' },
    iters: { type: 'string' },
    warmup: { type: 'string' },
    'budget-s': { type: 'string' },
    out: { type: 'string', short: 'o' },
    'peak-mem': { type: 'boolean' },
    'no-peak-mem': { type: 'boolean' },
    profile: { type: 'boolean' },
    'in-process': { type: 'boolean' },
    child: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length) throw new AlaeError(`unexpected argument '${positionals[0]}' (see alae bench --help)`);
  const iters = positiveInt(values.iters, 'iters', 3);
  const warmup = positiveInt(values.warmup, 'warmup', 1, 0);
  const budgetSec = positiveInt(values['budget-s'], 'budget-s', 600);
  const backend = await setupBackend(values.backend, true);
  const peakMemory = values['no-peak-mem'] ? false : (values['peak-mem'] ?? backend === 'webgpu');
  const profile = values.profile ?? false;
  const opts: RowOptions = { iters, warmup, budgetSec, peakMemory, profile };

  if (values.child) {
    // A child: one row, progress on stdout, the result as a tagged JSON line.
    const row = ROWS.find((r) => r.id === values.child);
    if (!row) throw new AlaeError(`unknown row '${values.child}'`);
    const r = await runRow(row, {
      ...opts,
      onProgress: (m) => process.stdout.write(m + '\n'),
      onIteration: (soFar) => process.stdout.write(PARTIAL_TAG + JSON.stringify(soFar) + '\n'),
    });
    process.stdout.write(RESULT_TAG + JSON.stringify(r) + '\n');
    return 0;
  }

  const { rows, unknown } = selectRows(values.rows?.split(',').map((s) => s.trim()).filter(Boolean));
  if (unknown.length) throw new AlaeError(`unknown row(s): ${unknown.join(', ')} (known: ${ROWS.map((r) => r.id).join(', ')}, train, infer, all)`);
  const header = await benchHeader(backend, { iters, warmup, budgetSec });
  const results: BenchResults = { header, rows: [] };
  const outFile = values.out ?? 'bench-results.json';
  const childArgs = ['--backend', backend, '--iters', String(iters), '--warmup', String(warmup), '--budget-s', String(budgetSec), peakMemory ? '--peak-mem' : '--no-peak-mem', ...(profile ? ['--profile'] : [])];
  process.stdout.write(`alae bench: ${rows.length} row(s) on ${backend} (${header.device})\n`);
  for (const row of rows) {
    process.stdout.write(`- ${row.label} ...\n`);
    const r = values['in-process']
      ? await runRow(row, { ...opts, onProgress: (m) => process.stdout.write(`    ${m}\n`) })
      : await runChild(row, childArgs, budgetSec, (l) => process.stdout.write(`    ${l}\n`));
    const full = withReference(row, r, header.deviceKind);
    results.rows.push(full);
    // Written after every row, so an interrupted run keeps what it measured.
    await writeFileAtomic(outFile, JSON.stringify(results, null, 2) + '\n');
  }
  process.stdout.write('\n' + formatTable(results) + `\n\nwrote ${outFile}\n`);
  return results.rows.some((r) => r.status === 'failed') ? 1 : 0;
}
