// GPU dispatches of one training iteration on the webgpu backend, by program: the same model,
// state and batch as the bench row (test-tiny32 at 32x32, batch 8 by default), one warm-up
// iteration, then one counted. Counts every dispatchWorkgroups of a compute pass, labelled with
// the pipeline's label (tfjs names pipelines after their program class; ours after the kernel).
// Run after `npm run build`, with a WebGPU adapter (here: source ../shared/webgpu-cpu/setup.sh):
//   node bench/dispatches.mjs [preset] [resolution] [batch]
import { tf } from '../dist/tf.js';
import { useBackend } from '../dist/backend/backend.js';
import { resolveConfig } from '../dist/config/config.js';
import { benchModel } from '../dist/bench/run.js';
import { LREQAdam } from '../dist/train/lreq-adam.js';
import { trainIteration } from '../dist/train/step.js';
import { Rng } from '../dist/util/random.js';

const [preset = 'test-tiny32', res = '32', batch = '8'] = process.argv.slice(2);
await useBackend('webgpu');

const counts = new Map();
const trace = [];
let counting = false;
const pass = globalThis.GPUComputePassEncoder.prototype;
const setPipeline = pass.setPipeline, dispatch = pass.dispatchWorkgroups;
const current = new WeakMap();
pass.setPipeline = function (p) { current.set(this, p.label || '?'); return setPipeline.call(this, p); };
pass.dispatchWorkgroups = function (...a) {
  if (counting && process.env.TRACE && phase().startsWith(process.env.TRACE)) trace.push(`${stack.filter((s) => s).join('>') || '(custom op)'}:${current.get(this)}`);
  if (counting) { const k = process.env.BY === 'both' ? `${phase()} | ${stack.find((s) => s) ?? '(custom op)'}` : byPhase ? phase() : byKernel ? (stack.find((s) => s) ?? '(custom op)') : (current.get(this) ?? '?'); counts.set(k, (counts.get(k) ?? 0) + 1); }
  return dispatch.apply(this, a);
};
// BY=kernel: label each dispatch with the outermost tfjs kernel running instead; BY=phase: with the
// phase of the iteration (which loss, forward or backward, R1's inner gradient, optimizer, averaging).
const byKernel = process.env.BY === 'kernel', byPhase = process.env.BY === 'phase';
let loss = 0, depth = 0, inF = false, inOpt = false;
const LOSSES = ['?', 'D', 'G', 'AE'];
const phase = () => inOpt ? 'optimizer' : depth === 0 ? (loss === 3 ? 'after AE (averaging)' : `untaped before ${LOSSES[loss + 1]}`)
  : depth >= 2 ? `${LOSSES[loss]} R1 inner gradient` : `${LOSSES[loss]} ${inF ? 'forward' : 'backward'}`;
let kernels = 0;
const stack = [];
const engine = tf.engine();
const runKernelFunc = engine.runKernelFunc.bind(engine);
engine.runKernelFunc = (info) => {
  if (counting) kernels++;
  stack.push(info.kernelName);
  try { return runKernelFunc(info); } finally { stack.pop(); }
};

const gradients = engine.gradients.bind(engine);
engine.gradients = (f, xs, dy, allow) => {
  if (++depth === 1) loss++;
  const outer = inF;
  try {
    return gradients(() => { inF = true; try { return f(); } finally { inF = outer; } }, xs, dy, allow);
  } finally { depth--; }
};
const optStep = LREQAdam.prototype.step;
LREQAdam.prototype.step = function (...a) { inOpt = true; try { return optStep.apply(this, a); } finally { inOpt = false; } };
const config = resolveConfig(preset);
const lod = Math.log2(Number(res) / 4), n = Number(batch);
const model = benchModel(config, 1);
const averaged = model.clone();
const st = {
  model, averaged, rng: new Rng(3, 101),
  encoderOpt: new LREQAdam(model, ['encoder', 'mapping_d'], { lr: 0.0015, beta2: config.train.adamBeta2 }),
  decoderOpt: new LREQAdam(model, ['decoder', 'mapping_f'], { lr: 0.0015, beta2: config.train.adamBeta2 }),
};
const x = tf.tidy(() => tf.tanh(tf.randomNormal([n, Number(res), Number(res), config.model.channels], 0, 1, 'float32', 2)));
const level = { lod, blend: 1, inTransition: false };
const opts = { r1Gamma: config.train.r1Gamma, styleMixingProb: config.model.styleMixingProb, dlatentAvgBeta: config.model.dlatentAvgBeta, torchZeroGrad: true };
await trainIteration(st, x, level, opts);
const before = tf.memory().numTensors;
counting = true;
loss = 0;
const t0 = performance.now();
const losses = await trainIteration(st, x, level, opts);
await averaged.vars.get('mapping_f.map_blocks.0.fc.bias').data();
counting = false;
const total = [...counts.values()].reduce((a, b) => a + b, 0);
console.log(`${preset} ${res}x${res} b${n}: ${total} dispatches, ${kernels} tfjs kernels, ${((performance.now() - t0) / 1000).toFixed(2)} s, tensors ${before} -> ${tf.memory().numTensors}, losses ${JSON.stringify(losses)}`);
if (process.env.TRACE) console.log(trace.join('\n'));
for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1])) console.log(String(v).padStart(6), k);
