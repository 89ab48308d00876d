import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { customKernelsOff, customKernelsOn } from '../../src/backend/kernel-adapter.js';
import { INSTANCE_STATS } from '../../src/nn/instance-stats.js';
import { LEAKY_GRAD, LEAKY_TWICE } from '../../src/nn/ops.js';
import { STYLE_EPILOGUE } from '../../src/nn/style-epilogue.js';
import { testBackend } from '../setup-backend.js';

await testBackend();

describe('kernel adapter', () => {
  it('ALAE_FUSED=0 switches every backend\'s kernels off, ALAE_NATIVE_FUSED=0 the native ones only', () => {
    expect(customKernelsOff('native', {})).toBe(false);
    expect(customKernelsOff('webgpu', {})).toBe(false);
    expect(customKernelsOff('native', { ALAE_FUSED: '0' })).toBe(true);
    expect(customKernelsOff('webgpu', { ALAE_FUSED: '0' })).toBe(true);
    expect(customKernelsOff('native', { ALAE_NATIVE_FUSED: '0' })).toBe(true);
    expect(customKernelsOff('webgpu', { ALAE_NATIVE_FUSED: '0' })).toBe(false);
    expect(customKernelsOn('cpu')).toBe(false);
  });

  it('registered the native kernels when the backend was set up (unless switched off)', () => {
    const on = customKernelsOn(tf.getBackend());
    for (const k of [STYLE_EPILOGUE, INSTANCE_STATS, LEAKY_TWICE, LEAKY_GRAD]) expect(tf.getKernel(k, tf.getBackend()) !== undefined, k).toBe(on);
  });
});
