/** Asserts that `fn` throws an AlaeError naming `file`, in its field and its message, with each fragment in the message. */
import { expect } from 'vitest';
import { AlaeError } from '../src/errors.js';

export function expectAlae(fn: () => unknown, file: string, ...fragments: (string | RegExp)[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AlaeError);
  expect((err as AlaeError).file).toBe(file);
  const msg = (err as Error).message;
  expect(msg).toContain(file);
  for (const f of fragments) {
    if (typeof f === 'string') expect(msg).toContain(f);
    else expect(msg).toMatch(f);
  }
}
