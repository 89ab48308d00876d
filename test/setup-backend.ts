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

/**
 * Make webgpu the backend of this test file (a process of its own: vitest forks one per file).
 * Returns null when it is active, else why not, for the tests to skip with. Where a Vulkan
 * driver is named (VK_DRIVER_FILES, which ../shared/webgpu-cpu/setup.sh exports for CI) or
 * ALAE_REQUIRE_WEBGPU=1, a missing adapter is an error instead: there the tests must run.
 */
export async function webgpuForTests(): Promise<string | null> {
  try {
    await useBackend('webgpu');
    return null;
  } catch (e) {
    const why = `no WebGPU here (${(e as Error).message.split('\n')[0]}); source ../shared/webgpu-cpu/setup.sh to run these on the CPU`;
    if (process.env.VK_DRIVER_FILES || process.env.ALAE_REQUIRE_WEBGPU === '1') {
      throw new Error(`WebGPU is required here (VK_DRIVER_FILES or ALAE_REQUIRE_WEBGPU is set) but ${why}`);
    }
    return why;
  }
}
