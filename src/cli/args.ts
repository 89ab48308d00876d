/** Shared option parsing for the sub-commands (node:util parseArgs, strict). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AlaeError } from '../errors.js';
import { requestedBackend, useBackend, type BackendName } from '../backend/backend.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type WithHelp<T extends Options> = T & { help: { type: 'boolean'; short: 'h' } };
export type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: WithHelp<T>; allowPositionals: true; strict: true }>>;

/** Parse argv with the given options plus --help; unknown options are an AlaeError. */
export function parse<T extends Options>(argv: string[], options: T): Parsed<T> {
  try {
    const all = { ...options, help: { type: 'boolean', short: 'h' } } as WithHelp<T>;
    return parseArgs({ args: argv, options: all, allowPositionals: true, strict: true });
  } catch (e) {
    throw new AlaeError((e as Error).message);
  }
}

export const backendOption = { backend: { type: 'string' as const } };

/** Activate the backend from --backend or ALAE_BACKEND (default auto). */
export async function setupBackend(flag: string | undefined, training = false): Promise<BackendName> {
  return useBackend(requestedBackend(flag), { training });
}
