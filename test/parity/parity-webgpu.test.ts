/**
 * Parity on webgpu, in a process of its own (vitest forks one per file; the backend is
 * process-global in tfjs). Without a GPU it runs on lavapipe: `source ../shared/webgpu-cpu/setup.sh`.
 */
import { webgpuForTests } from '../setup-backend.js';
import { parityTests } from './parity-cases.js';

parityTests('parity with the reference implementation on webgpu', await webgpuForTests());
