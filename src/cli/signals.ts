/**
 * Ctrl-C and SIGTERM for the `alae` process. By default a signal ends the
 * command at once with 130 (SIGINT) or 143 (SIGTERM): every file is
 * written atomically, so nothing is left half-written. A long job may ask
 * for a clean stop instead (`stopOnSignal`): the first signal only sets a
 * flag the job checks between batches (it then keeps what it finished and
 * exits 130/143); a second one ends the process at once.
 *
 * main.ts installs the handlers; a command run in-process (tests) has none,
 * and `stopOnSignal` only records the job's wish.
 */

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The exit status for a signal (128 + its number, as a shell reports it). */
export const signalExit = (sig: StopSignal): number => (sig === 'SIGINT' ? 130 : 143);

interface Stopper {
  signal: StopSignal | null;
  onFirst: (sig: StopSignal) => void;
}

let current: Stopper | null = null;

function handle(sig: StopSignal): void {
  if (current && current.signal === null) {
    current.signal = sig;
    current.onFirst(sig);
    return;
  }
  process.exit(signalExit(sig));
}

/** Install the process's handlers (the `alae` binary only). */
export function installSignalHandlers(): void {
  process.on('SIGINT', () => handle('SIGINT'));
  process.on('SIGTERM', () => handle('SIGTERM'));
}

export interface StopRequest {
  /** The signal received, or null. */
  readonly signal: StopSignal | null;
  /** Back to the default (exit at once); call when the job ends. */
  release(): void;
}

/** Ask for a clean stop: the first signal calls `onFirst` and is recorded; the job checks `signal` between batches. */
export function stopOnSignal(onFirst: (sig: StopSignal) => void): StopRequest {
  const me: Stopper = { signal: null, onFirst };
  current = me;
  return {
    get signal() {
      return me.signal;
    },
    release() {
      if (current === me) current = null;
    },
  };
}

/** The usual notice of a clean stop, on stderr. */
export function stopNotice(cmd: string, what = 'the current batch'): (sig: StopSignal) => void {
  return (sig) => void process.stderr.write(`\nalae ${cmd}: ${sig === 'SIGINT' ? 'interrupted' : 'terminated'}: finishing ${what}, keeping what is done (${sig === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again stops at once)\n`);
}
