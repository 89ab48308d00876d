/** Tests run on the cpu backend (the one CI has) unless ALAE_BACKEND says otherwise. */
import { useBackend, requestedBackend } from '../src/backend/backend.js';

export async function testBackend(): Promise<void> {
  const req = process.env.ALAE_BACKEND ? requestedBackend() : 'cpu';
  await useBackend(req);
}
