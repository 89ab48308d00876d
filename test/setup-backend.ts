/**
 * Tests run on the native backend (tfjs cpu kernels + our C++ convolutions,
 * built by npm install) when it loads, else on plain cpu; ALAE_BACKEND
 * overrides. Both compute the same results (test/backend/native.test.ts).
 */
import { useBackend, requestedBackend } from '../src/backend/backend.js';

let warned = false;

export async function testBackend(): Promise<void> {
  if (process.env.ALAE_BACKEND) {
    await useBackend(requestedBackend());
    return;
  }
  try {
    await useBackend('native');
  } catch (e) {
    if (!warned) console.warn(`tests fall back to the slow cpu backend: ${(e as Error).message.split('\n')[0]}`);
    warned = true;
    await useBackend('cpu');
  }
}
