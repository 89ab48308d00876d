/**
 * Option parsing for every sub-command: node:util parseArgs for the
 * splitting, our own checks for what it would report in its own words
 * (unknown options, with a did-you-mean; a missing value; a value given to
 * a switch). Anything wrong on the command line is a UsageError: the
 * command prints one line and exits 2 (run.ts).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AlaeError } from '../errors.js';
import { requestedBackend, useBackend, type BackendName } from '../backend/backend.js';

/** Bad usage: an unknown option, a missing or malformed value. Exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Run `check`, turning the library's complaints about option values (AlaeError) into usage errors. */
export function usageErrors<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof AlaeError) throw new UsageError(e.message);
    throw e;
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;
type WithHelp<T extends Options> = T & { help: { type: 'boolean'; short: 'h' } };
export type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: WithHelp<T>; allowPositionals: true; strict: true }>>;

/** Edit distance (insertions, deletions, substitutions), for did-you-mean. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur.push(Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)));
    prev = cur;
  }
  return prev[b.length];
}

/** The known name closest to `name` (the one it is a prefix of, or within max(2, a third of its length) edits), if any. */
export function suggestOption(name: string, known: readonly string[]): string | null {
  if (name.length < 2) return null;
  const prefixed = known.filter((k) => k.startsWith(name));
  if (prefixed.length === 1) return prefixed[0];
  if (name.length < 3) return null;
  let best: string | null = null;
  let bestD = Math.max(2, Math.ceil(name.length / 3)) + 1;
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

const flag = (name: string): string => (name.length === 1 ? `-${name}` : `--${name}`);

/**
 * Parse argv with the given options plus --help. Usage errors: an unknown
 * option (with the nearest known one), a string option without its value
 * (a value may not start with '-' unless it is a number, e.g. --amount -2,
 * or is given as --name=value), a value given to a switch.
 */
export function parse<T extends Options>(argv: string[], options: T): Parsed<T> {
  const all = { ...options, help: { type: 'boolean', short: 'h' } } as WithHelp<T>;
  const shorts = new Map(Object.entries(all).flatMap(([k, o]) => (o.short ? [[o.short, k] as const] : [])));
  const names = Object.keys(all);
  const { values, positionals, tokens } = parseArgs({ args: argv, options: all, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const name = t.rawName.startsWith('--') ? t.name : (shorts.get(t.name) ?? t.name);
    const spec = (all as Options)[name];
    if (!spec) {
      const hint = suggestOption(t.name, names);
      throw new UsageError(`unknown option ${t.rawName}${hint ? ` (did you mean ${flag(hint)}?)` : ''}`);
    }
    if (spec.type === 'boolean' && t.value !== undefined) throw new UsageError(`${flag(name)} takes no value (got '${t.value}')`);
    if (spec.type === 'string') {
      const v = t.value;
      if (v === undefined || (!t.inlineValue && v.startsWith('-') && !/^-\.?\d/.test(v))) {
        throw new UsageError(`${flag(name)} needs a value${v !== undefined ? ` (got the option ${v}; write ${flag(name)}=${v} if that is the value)` : ''}`);
      }
    }
  }
  return { values, positionals } as Parsed<T>;
}

export const backendOption = { backend: { type: 'string' as const } };

/** Activate the backend from --backend or ALAE_BACKEND (default auto). */
export async function setupBackend(flag: string | undefined, training = false): Promise<BackendName> {
  return useBackend(usageErrors(() => requestedBackend(flag)), { training });
}
