#!/usr/bin/env node
/**
 * Our webgpu convolution kernels (src/backend/webgpu/conv*.ts) against
 * tfjs-backend-webgpu's on the calls of one training iteration: records the
 * Conv2D / FusedConv2D / Conv2DBackpropInput / Conv2DBackpropFilter calls of
 * a bench training row, then times each distinct call with both kernel sets
 * (median of --reps, after a warm-up that compiles the pipelines) and counts
 * the GPU dispatches each issues; then the whole iteration with both.
 *
 *   npm run build && source ../shared/webgpu-cpu/setup.sh && node bench/webgpu-conv.mjs [--preset test-tiny32] [--res 32] [--batch 8] [--reps 3] [--no-iteration]
 *
 * On lavapipe (a CPU) the times say little about a GPU; the dispatch counts carry over.
 */
import { tf } from '../dist/tf.js';
import { useBackend } from '../dist/backend/backend.js';
import { replacedKernel } from '../dist/backend/kernel-adapter.js';
import { runRow } from '../dist/bench/run.js';
import { installGpuTrace } from '../dist/bench/gpu-trace.js';
import { flag, option } from './args.mjs';

const preset = option('--preset', 'test-tiny32');
const resolution = Number(option('--res', '32'));
const batch = Number(option('--batch', '8'));
const reps = Number(option('--reps', '3'));

await useBackend('webgpu');
const CONVS = ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'];
const tfjsKernels = CONVS.map((n) => replacedKernel(n, 'webgpu'));
const ourKernels = CONVS.map((n) => tf.getKernel(n, 'webgpu'));
if (tfjsKernels.some((k) => !k)) throw new Error('alae\'s webgpu convolutions are not registered (ALAE_FUSED=0?)');
const use = (set) => set.forEach((k) => {
  tf.unregisterKernel(k.kernelName, 'webgpu');
  tf.registerKernel(k);
});

// Dispatches counted at the device (tfjs's programs and our runner's alike).
const trace = installGpuTrace();
const counted = async (fn) => {
  trace.begin();
  const out = await fn();
  const n = [...trace.end().dispatches.values()].reduce((a, b) => a + b, 0);
  return [out, n];
};

// Record the convolution calls of one iteration (ours registered), by kernel and shapes.
const calls = new Map();
const recorders = ourKernels.map((k) => ({
  ...k,
  kernelFunc: (a) => {
    const inputs = Object.fromEntries(Object.entries(a.inputs).filter(([, t]) => t).map(([n, t]) => [n, t.shape]));
    const key = JSON.stringify([k.kernelName, inputs, a.attrs]);
    const c = calls.get(key) ?? { name: k.kernelName, inputs, attrs: a.attrs, count: 0 };
    c.count++;
    calls.set(key, c);
    return k.kernelFunc(a);
  },
}));
const row = { id: 'conv-bench', kind: 'train', preset, resolution, batch, label: '', reference: {} };
use(recorders);
const first = await runRow(row, { iters: 1, warmup: 0, budgetSec: 600 });
if (first.status !== 'ok') throw new Error(`training iteration: ${first.status} ${first.note ?? ''}`);
use(ourKernels);

async function timeCall(c) {
  const ts = Object.entries(c.inputs).map(([n, s]) => [n, tf.randomNormal(s)]);
  const inputs = Object.fromEntries(ts);
  const once = async () => {
    const [out, n] = await counted(() => tf.engine().runKernel(c.name, inputs, c.attrs));
    const outs = Array.isArray(out) ? out : [out];
    await outs[0].data();
    tf.dispose(outs);
    return n;
  };
  await once();
  const times = [];
  let n = 0;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    n = await once();
    times.push(performance.now() - t);
  }
  tf.dispose(ts.map(([, t]) => t));
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], dispatches: n };
}

const shape = (s) => s.join('x');
console.log(`${preset} ${resolution}x${resolution} batch ${batch}: ${calls.size} distinct convolution calls, ${[...calls.values()].reduce((a, c) => a + c.count, 0)} per iteration`);
console.log('kernel                 inputs                              calls  tfjs ms (disp)  ours ms (disp)  ratio');
const total = { tfjs: 0, ours: 0, dTfjs: 0, dOurs: 0 };
for (const c of [...calls.values()].sort((a, b) => a.name.localeCompare(b.name))) {
  use(tfjsKernels);
  const a = await timeCall(c);
  use(ourKernels);
  const b = await timeCall(c);
  total.tfjs += a.ms * c.count;
  total.ours += b.ms * c.count;
  total.dTfjs += a.dispatches * c.count;
  total.dOurs += b.dispatches * c.count;
  const attrs = c.attrs.strides !== undefined ? ` s${c.attrs.strides} p${c.attrs.pad}` : '';
  console.log(`${c.name.padEnd(22)} ${(Object.values(c.inputs).map(shape).join(' ') + attrs).padEnd(36)} ${String(c.count).padStart(5)}  ${a.ms.toFixed(1).padStart(8)} (${a.dispatches})  ${b.ms.toFixed(1).padStart(8)} (${b.dispatches})  ${(a.ms / b.ms).toFixed(2).padStart(5)}`);
}
console.log(`per iteration (sum over calls): tfjs ${total.tfjs.toFixed(0)} ms in ${total.dTfjs} dispatches, ours ${total.ours.toFixed(0)} ms in ${total.dOurs} dispatches`);

if (!flag('--no-iteration')) {
  for (const [label, set] of [['tfjs', tfjsKernels], ['ours', ourKernels]]) {
    use(set);
    trace.uninstall(); // the row's profile installs its own
    const r = await runRow(row, { iters: 2, warmup: 2, budgetSec: 600, profile: true });
    console.log(`training iteration with ${label} kernels: ${r.times.map((t) => t.toFixed(2)).join(', ')} s (${r.value?.toFixed(2)} img/s), ${r.dispatchesPerIteration} dispatches`);
  }
}
