/**
 * What a command that works batch by batch on a list of images (encode,
 * reconstruct) keeps while it runs: its progress line, the failures, each
 * named on stderr as it happens (not when its batch completes), and a clean
 * stop at Ctrl-C that also aborts a refinement in progress (long: it is
 * dropped at once, with its batch).
 */
import type { Failure } from '../api/alae.js';
import { progressRenderer, reportFailures, type ProgressRenderer } from './support.js';
import { stopNotice, stopOnSignal, type StopRequest } from './signals.js';

export interface BatchRun {
  progress: ProgressRenderer;
  /** The inputs that failed so far. */
  failures: Failure[];
  /** For the library's onFailure: ends the progress line, names the failure, keeps it. */
  onFailure: (f: Failure) => void;
  /** Aborted at the first signal (pass it to a refinement). */
  abort: AbortSignal;
  /** The signal received; release() when the job ends. */
  stop: StopRequest;
}

/** `finishing`: what the stop notice says the command finishes (e.g. 'the current batch'). */
export function batchRun(cmd: string, quiet: boolean, finishing: string): BatchRun {
  const progress = progressRenderer(cmd, quiet);
  const failures: Failure[] = [];
  const abort = new AbortController();
  const notice = stopNotice(cmd, finishing);
  return {
    progress,
    failures,
    onFailure: (f) => {
      progress.end();
      reportFailures(cmd, [f]);
      failures.push(f);
    },
    abort: abort.signal,
    stop: stopOnSignal((sig) => {
      notice(sig);
      abort.abort();
    }),
  };
}
