/**
 * Backend choice in one place: a capability table, an override (`--backend`
 * or ALAE_BACKEND), and `auto`, which takes the fastest backend that loads.
 * A backend asked for by name that cannot load fails with the fixes listed.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { tf } from '../tf.js';
import { AlaeError } from '../errors.js';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'webgpu' | 'native' | 'wasm' | 'cpu';
export type BackendRequest = BackendName | 'auto';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'native', 'wasm', 'cpu'];

export interface BackendInfo {
  /** Our name for it (what --backend takes). */
  name: BackendName;
  /** The name tfjs registers it under. */
  tfName: string;
  /** npm packages that provide it. */
  packages: string[];
  /** Can it train (has every gradient kernel, including R1's double backprop)? */
  training: boolean;
  /**
   * Does tensor data live in JS memory, where dataSync() returns the stored
   * Float32Array with no copy or device transfer? Then per-parameter updates
   * (optimizer, weight averaging) run as one JS loop per parameter instead
   * of a chain of small kernels (train/host-update.ts).
   */
  hostMemory: boolean;
  /** How to make it available, shown when it fails to load. */
  fixes: string[];
}

/** Ordered fastest first: `auto` tries them in this order. */
export const BACKENDS: readonly BackendInfo[] = [
  {
    name: 'tensorflow-gpu', tfName: 'tensorflow', packages: ['@tensorflow/tfjs-node-gpu'], training: true, hostMemory: false,
    fixes: [
      'npm install @tensorflow/tfjs-node-gpu@4.22.0 (its install step downloads libtensorflow: it needs network access to storage.googleapis.com)',
      'it needs CUDA 11.2 and cuDNN 8.1 on the library path',
      'or use --backend webgpu on a machine with a GPU',
    ],
  },
  {
    name: 'tensorflow', tfName: 'tensorflow', packages: ['@tensorflow/tfjs-node'], training: true, hostMemory: false,
    fixes: ['npm install @tensorflow/tfjs-node@4.22.0 (its install step downloads libtensorflow: it needs network access)'],
  },
  {
    name: 'webgpu', tfName: 'webgpu', packages: ['@tensorflow/tfjs-backend-webgpu', 'webgpu'], training: true, hostMemory: false,
    fixes: [
      'npm install @tensorflow/tfjs-backend-webgpu@4.22.0 webgpu (optional dependencies of alae)',
      'a GPU with a Vulkan driver: the Vulkan loader (Debian: libvulkan1) and VK_DRIVER_FILES pointing at the vendor ICD (NVIDIA: /usr/share/vulkan/icd.d/nvidia_icd.json)',
    ],
  },
  {
    // tfjs's cpu backend with our multi-threaded C++ kernels for convolutions and matMul (native/).
    name: 'native', tfName: 'native', packages: ['@tensorflow/tfjs-backend-cpu'], training: true, hostMemory: true,
    fixes: [
      'build the C++ addon: npm run build:native (node-gyp rebuild -C native; npm install runs it)',
      'building needs a C++17 compiler (g++ or clang), make and python3, plus the Node headers (npm config nodedir)',
    ],
  },
  {
    name: 'wasm', tfName: 'wasm', packages: ['@tensorflow/tfjs-backend-wasm'], training: false, hostMemory: false,
    fixes: ['npm install @tensorflow/tfjs-backend-wasm@4.22.0 (a dependency of alae: reinstall the package)'],
  },
  {
    name: 'cpu', tfName: 'cpu', packages: ['@tensorflow/tfjs-backend-cpu'], training: true, hostMemory: true,
    fixes: ['npm install @tensorflow/tfjs-backend-cpu@4.22.0 (a dependency of alae: reinstall the package)'],
  },
];

const require = createRequire(import.meta.url);

async function tryImport(pkg: string): Promise<unknown> {
  return import(pkg);
}

/** Is the package's own tfjs-core the same file as ours? (exactly one instance) */
function sameCore(pkg: string): boolean {
  try {
    const ours = require.resolve('@tensorflow/tfjs-core');
    const pkgDir = path.dirname(require.resolve(`${pkg}/package.json`));
    const theirs = createRequire(path.join(pkgDir, 'index.js')).resolve('@tensorflow/tfjs-core');
    return ours === theirs;
  } catch {
    return true; // cannot tell; the registration check below decides
  }
}

/** Load one backend and register it with our tfjs-core; throws with the reason. */
async function register(info: BackendInfo): Promise<void> {
  switch (info.name) {
    case 'cpu':
      await tryImport('@tensorflow/tfjs-backend-cpu');
      break;
    case 'native': {
      const { registerNativeBackend } = await import('./native.js');
      await registerNativeBackend();
      break;
    }
    case 'wasm': {
      const wasm = (await tryImport('@tensorflow/tfjs-backend-wasm')) as { setWasmPaths?: (p: string) => void };
      const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
      // In Node the .wasm files are read from the package folder, never fetched.
      wasm.setWasmPaths?.(path.join(dir, 'dist') + path.sep);
      break;
    }
    case 'webgpu': {
      const gpuMod = (await tryImport('webgpu')) as {
        create: (opts: string[]) => { requestAdapter: () => Promise<unknown> };
        globals: Record<string, unknown>;
      };
      Object.assign(globalThis, gpuMod.globals);
      const gpu = gpuMod.create([]);
      const adapter = await gpu.requestAdapter();
      if (!adapter) throw new Error('no WebGPU adapter found (no GPU, or no Vulkan driver reachable)');
      const g = globalThis as { navigator?: { gpu?: unknown } };
      if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
      else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      const webgpu = (await tryImport('@tensorflow/tfjs-backend-webgpu')) as { WebGPUBackend: new (device: unknown, info?: unknown) => tf.KernelBackend };
      registerWebgpuFactory(webgpu.WebGPUBackend, adapter as GPUAdapterLike);
      (await import('./kernel-adapter.js')).registerCustomKernels('webgpu');
      break;
    }
    case 'tensorflow':
    case 'tensorflow-gpu': {
      for (const p of info.packages) {
        if (!sameCore(p)) throw new Error(`${p} resolves its own copy of @tensorflow/tfjs-core; install the same version (4.22.0) so npm dedupes it`);
        await tryImport(p);
      }
      break;
    }
  }
  if (!tf.findBackendFactory(info.tfName)) {
    throw new Error(`${info.packages.join(' + ')} loaded but did not register '${info.tfName}' with alae's @tensorflow/tfjs-core (two tfjs-core instances?)`);
  }
}

export interface SelectOptions {
  /** Pick only backends that can train (auto skips the others). */
  training?: boolean;
}

let active: BackendName | null = null;

/** The backend requested by the environment (ALAE_BACKEND), or auto. */
export function requestedBackend(flag?: string): BackendRequest {
  const v = flag ?? process.env.ALAE_BACKEND ?? 'auto';
  if (v === 'auto' || (BACKEND_NAMES as readonly string[]).includes(v)) return v as BackendRequest;
  throw new AlaeError(`unknown backend '${v}' (choose one of: auto, ${BACKEND_NAMES.join(', ')})`);
}

/**
 * Make `request` the active tfjs backend. auto tries the table in order and
 * takes the first that loads and initialises; a named backend that fails
 * throws an AlaeError listing the fixes. Returns the name in use.
 */
export async function useBackend(request: BackendRequest = requestedBackend(), opts: SelectOptions = {}): Promise<BackendName> {
  const candidates = request === 'auto' ? BACKENDS.filter((b) => !opts.training || b.training) : BACKENDS.filter((b) => b.name === request);
  if (candidates.length === 0) throw new AlaeError(`unknown backend '${request}'`);
  const failures: string[] = [];
  for (const info of candidates) {
    if (active === info.name && tf.getBackend() === info.tfName) return info.name;
    try {
      // auto does not load GPU runtimes on machines with no GPU device at all (Dawn prints Vulkan errors).
      if (request === 'auto' && info.name === 'tensorflow-gpu' && !hasDevice(/^nvidia\d+$/)) throw new Error('no NVIDIA device found');
      if (request === 'auto' && info.name === 'webgpu' && !hasDevice(/^nvidia\d+$/) && !hasDevice(/^renderD\d+$/, '/dev/dri')) throw new Error('no GPU device found');
      await register(info);
      // tfjs-backend-cpu tells Node users to install tfjs-node on first use; our own table covers that.
      if (info.name === 'cpu' || info.name === 'native' || info.name === 'wasm') tf.env().set('PROD', true);
      const ok = await tf.setBackend(info.tfName);
      if (!ok) throw new Error(`tfjs could not initialise the '${info.tfName}' backend`);
      await tf.ready();
      // tfjs-webgpu's pool of freed buffers only grows (webgpu/buffer-pool.ts); ALAE_WEBGPU_POOL=keep leaves it as tfjs has it.
      if (info.name === 'webgpu' && process.env.ALAE_WEBGPU_POOL !== 'keep') (await import('./webgpu/buffer-pool.js')).boundBufferPool(tf.backend());
      active = info.name;
      return info.name;
    } catch (e) {
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
      failures.push(`${info.name}: ${msg}`);
      if (request !== 'auto') {
        throw new AlaeError(`backend '${info.name}' cannot load: ${msg}\nTo fix:\n${info.fixes.map((f) => `  - ${f}`).join('\n')}\n  - or choose another: --backend auto|${BACKEND_NAMES.join('|')} (or ALAE_BACKEND)`);
      }
    }
  }
  throw new AlaeError(`no backend could load:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
}

interface GPUAdapterLike {
  readonly limits: Record<string, number>;
  readonly features: { has(name: string): boolean };
  readonly info?: unknown;
  requestDevice(d: object): Promise<unknown>;
}

/**
 * tfjs-backend-webgpu's own factory asks for a device with the spec's default of 8 storage
 * buffers per shader stage; this one asks for what the adapter has (16 on lavapipe), the other
 * limits and features as tfjs asks for them. A split, concat or AddN binds its pieces as storage
 * buffers, so more of them go in one dispatch (backend/webgpu/pieces.ts, tfjs's Concat and AddN).
 */
function registerWebgpuFactory(WebGPUBackend: new (device: unknown, info?: unknown) => tf.KernelBackend, adapter: GPUAdapterLike): void {
  const l = adapter.limits;
  const keep = ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize',
    'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'];
  const requiredLimits = Object.fromEntries(keep.map((k) => [k, l[k]]));
  const requiredFeatures = ['timestamp-query'].filter((f) => adapter.features.has(f));
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', async () => new WebGPUBackend(await adapter.requestDevice({ requiredLimits, requiredFeatures }), adapter.info), 3);
}

function hasDevice(pattern: RegExp, dir = '/dev'): boolean {
  try {
    return readdirSync(dir).some((f) => pattern.test(f));
  } catch {
    return false;
  }
}

/** The backend in use, as our name (null before useBackend). */
export function activeBackend(): BackendName | null {
  return active;
}

/** Does the current tfjs backend keep tensors in JS memory (the table's hostMemory)? */
export function hostMemoryBackend(): boolean {
  const name = tf.getBackend();
  return BACKENDS.some((b) => b.tfName === name && b.hostMemory);
}

/** Make sure some backend is active (cpu unless ALAE_BACKEND says otherwise). */
export async function ensureBackend(): Promise<BackendName> {
  if (active) return active;
  return useBackend(requestedBackend());
}
