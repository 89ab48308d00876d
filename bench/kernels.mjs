#!/usr/bin/env node
/**
 * Micro-benchmark of the native backend's kernels (and, with --cpu, of
 * tfjs's cpu backend on the same calls).
 *
 *   npm run build && node bench/kernels.mjs [--cpu] [--threads N] [--reps N] [--quick]
 *   node bench/kernels.mjs --mnist [--batch 16] [--threads 1]
 *
 * --cpu      also time the tfjs cpu backend (slow: the 8x32x32x64
 *            Conv2DBackpropFilter alone takes over a minute; the big conv is
 *            timed at batch 1 and scaled, marked "est.", and its
 *            Conv2DBackpropFilter is skipped on cpu)
 * --threads  limit the addon's threads (default: all cores, or ALAE_THREADS)
 * --reps     timed repetitions per case, best reported (default 5)
 * --quick    skip the largest cases
 * --mnist    only the convolutions of an mnist training iteration (the 3x3
 *            shapes of the mnist preset at 32x32), all three kernels, the
 *            forward in both accumulations, timed by the process's CPU time
 *            (user + system): on a shared machine that counts only the time
 *            this process ran, so with --threads 1 it is the kernel's own
 *            speed whatever the load (--batch: the batch, default 16)
 *
 * Conv2D forward rows are timed with double accumulation (fp64: what the
 * backend runs under a gradient tape) and float32 (fp32: elsewhere).
 *
 * GFLOP/s counts 2*M*N*K for products and 2*B*OH*OW*OC*KH*KW*IC for every
 * convolution kernel (forward and both backprops do the same work).
 */
import { tf } from '../dist/tf.js';
import { loadNativeAddon, nativeInfo, registerNativeBackend, setConvAccumulation } from '../dist/backend/native.js';
import { packParams } from '../dist/backend/native-abi.js';
import '@tensorflow/tfjs-backend-cpu';
import { flag, option } from './args.mjs';

const withCpu = flag('--cpu');
const mnist = flag('--mnist');
const quick = flag('--quick');
const reps = Number(option('--reps', 5));

await registerNativeBackend();
const addon = loadNativeAddon();
if (flag('--threads')) addon.setThreads(Number(option('--threads', 0)));
await tf.setBackend('native');
await tf.ready();

const rows = [];
function report(name, flops, seconds, backend, note = '') {
  const gflops = flops / seconds / 1e9;
  rows.push({ name, backend, ms: seconds * 1e3, gflops, note });
  console.log(`${name.padEnd(58)} ${backend.padEnd(7)} ${(seconds * 1e3).toFixed(1).padStart(10)} ms ${gflops.toFixed(1).padStart(8)} GFLOP/s ${note}`);
}

/** Best wall time of `n` runs after one warm-up. */
function best(fn, n = reps) {
  fn();
  let t = Infinity;
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t = Math.min(t, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return t;
}

function randn(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}
const size = (s) => s.reduce((a, b) => a * b, 1);

// ---- the convolutions of an mnist training iteration (--mnist) --------------
if (mnist) {
  const B = Number(option('--batch', 16));
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e3;
  };
  const bestCpu = (fn) => {
    fn();
    let t = Infinity;
    for (let i = 0; i < reps; i++) {
      const t0 = cpuMs();
      fn();
      t = Math.min(t, cpuMs() - t0);
    }
    return t / 1e3;
  };
  console.log(`mnist convolutions, batch ${B}, ${addon.info().threads} thread(s), ${addon.info().simd}: GFLOP/s per CPU-second, best of ${reps}`);
  for (const [xs, fs] of [
    [[B, 8, 8, 256], [3, 3, 256, 256]], [[B, 32, 32, 64], [3, 3, 64, 128]], [[B, 16, 16, 128], [3, 3, 128, 256]],
    [[B, 32, 32, 64], [3, 3, 64, 64]], [[B, 16, 16, 128], [3, 3, 128, 128]], [[B, 4, 4, 256], [3, 3, 256, 256]],
  ]) {
    const ci = tf.backend_util.computeConv2DInfo(xs, fs, 1, 1, 1);
    const p = packParams(addon, 'conv', {
      batch: B, inH: xs[1], inW: xs[2], inC: xs[3], outH: ci.outHeight, outW: ci.outWidth, outC: fs[3], kH: 3, kW: 3,
      strideH: 1, strideW: 1, dilH: 1, dilW: 1, padTop: 1, padLeft: 1,
    });
    const x = randn(size(xs)), w = randn(size(fs)), y = new Float32Array(size(ci.outShape)), dx = new Float32Array(x.length), dw = new Float32Array(w.length);
    const flops = 2 * B * ci.outHeight * ci.outWidth * size(fs);
    const cells = [
      ['fwd fp64', () => addon.conv2d(x, w, y, p, true)], ['fwd fp32', () => addon.conv2d(x, w, y, p, false)],
      ['bwd input', () => addon.conv2dBackpropInput(y, w, dx, p)], ['bwd filter', () => addon.conv2dBackpropFilter(x, y, dw, p)],
    ].map(([k, fn]) => `${k} ${(flops / bestCpu(fn) / 1e9).toFixed(1).padStart(6)}`);
    console.log(`  x[${xs}] f[${fs}]`.padEnd(38), cells.join('   '));
  }
  process.exit(0);
}

// ---- raw GEMM (addon call, no tfjs) ---------------------------------------
const threadsAll = addon.info().threads;
for (const S of quick ? [512] : [512, 1024]) {
  const A = randn(S * S), B = randn(S * S), C = new Float32Array(S * S);
  const flops = 2 * S ** 3;
  report(`sgemm ${S}^3 (addon, ${threadsAll} threads)`, flops, best(() => addon.gemm(A, B, C, S, S, S, false, false, false)), 'native');
  addon.setThreads(1);
  report(`sgemm ${S}^3 (addon, 1 thread)`, flops, best(() => addon.gemm(A, B, C, S, S, S, false, false, false)), 'native');
  addon.setThreads(flag('--threads') ? Number(option('--threads', 0)) : 0);
}

// ---- tfjs ops ---------------------------------------------------------------
/** Time one kernel through tf.engine().runKernel on a backend. */
function timeKernel(backend, kernel, inputShapes, attrs, n = reps) {
  tf.setBackend(backend);
  const inputs = Object.fromEntries(Object.entries(inputShapes).map(([k, s]) => [k, tf.tensor(randn(size(s)), s)]));
  const t = best(() => tf.dispose(tf.engine().runKernel(kernel, inputs, attrs)), n);
  tf.dispose(Object.values(inputs));
  tf.setBackend('native');
  return t;
}

function convCase(name, [b, h, w, c], [kh, kw, , oc], stride, pad, opts = {}) {
  const ci = tf.backend_util.computeConv2DInfo([b, h, w, c], [kh, kw, c, oc], stride, 1, pad);
  const [ob, oh, ow] = ci.outShape;
  const flops = 2 * ob * oh * ow * oc * kh * kw * c;
  const common = { strides: stride, pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  const kernels = {
    Conv2D: [{ x: [b, h, w, c], filter: [kh, kw, c, oc] }, { ...common, dilations: 1 }],
    Conv2DBackpropInput: [{ dy: ci.outShape, filter: [kh, kw, c, oc] }, { ...common, inputShape: [b, h, w, c] }],
    Conv2DBackpropFilter: [{ x: [b, h, w, c], dy: ci.outShape }, { ...common, filterShape: [kh, kw, c, oc] }],
  };
  for (const k of opts.only ?? Object.keys(kernels)) {
    const [inputs, attrs] = kernels[k];
    const label = `${k} ${name}`;
    for (const accum of k === 'Conv2D' ? ['fp64', 'fp32'] : [null]) {
      const was = accum ? setConvAccumulation(accum) : null;
      try {
        report(label, flops, timeKernel('native', k, inputs, attrs, opts.reps ?? reps), 'native', accum ? `(${accum} accumulation)` : '');
      } finally {
        if (was) setConvAccumulation(was);
      }
    }
    if (withCpu && opts.cpu !== false && !(opts.cpuSkip ?? []).includes(k)) {
      if (opts.cpuScale) {
        // batch 1 on cpu, scaled to the full batch
        const scaled = Object.fromEntries(Object.entries(inputs).map(([n, s]) => [n, n === 'filter' ? s : [1, ...s.slice(1)]]));
        const a = { ...attrs };
        if (a.inputShape) a.inputShape = [1, ...a.inputShape.slice(1)];
        const t = timeKernel('cpu', k, scaled, a, 1) * b;
        report(label, flops, t, 'cpu', `(est.: batch 1 x ${b})`);
      } else {
        report(label, flops, timeKernel('cpu', k, inputs, attrs, 1), 'cpu', '(1 run)');
      }
    }
  }
}

if (withCpu) {
  for (const S of [512]) {
    const flops = 2 * S ** 3;
    tf.setBackend('cpu');
    const a = tf.tensor(randn(S * S), [S, S]), bm = tf.tensor(randn(S * S), [S, S]);
    report(`tf.matMul ${S}^3`, flops, best(() => tf.dispose(tf.matMul(a, bm)), 1), 'cpu', '(1 run)');
    tf.dispose([a, bm]);
    tf.setBackend('native');
  }
}
for (const S of quick ? [512] : [512, 1024]) {
  const a = tf.tensor(randn(S * S), [S, S]), bm = tf.tensor(randn(S * S), [S, S]);
  report(`tf.matMul ${S}^3`, 2 * S ** 3, best(() => tf.dispose(tf.matMul(a, bm))), 'native');
  tf.dispose([a, bm]);
}

convCase('3x3 p1 [8,32,32,64]->64 (the 76 s case)', [8, 32, 32, 64], [3, 3, 64, 64], 1, 1, { only: ['Conv2DBackpropFilter'] });
convCase('3x3 p1 [8,32,32,64]->64', [8, 32, 32, 64], [3, 3, 64, 64], 1, 1, { only: ['Conv2D', 'Conv2DBackpropInput'] });
convCase('4x4 s2 p1 [8,64,64,64]->128', [8, 64, 64, 64], [4, 4, 64, 128], 2, 1, { cpu: false });
convCase('1x1 [8,32,32,256]->64', [8, 32, 32, 256], [1, 1, 256, 64], 1, 0, { cpu: false });
if (!quick) {
  // cpu's Conv2DBackpropFilter would take well over 10 minutes even at batch 1.
  convCase('3x3 p1 [32,64,64,256]->256', [32, 64, 64, 256], [3, 3, 256, 256], 1, 1,
    { reps: Math.min(reps, 3), cpuScale: true, cpuSkip: ['Conv2DBackpropFilter'] });
}

// conv2dTranspose 4x4 stride 2 pad 1 (the model's upsample): Conv2DBackpropInput
{
  const [b, h, w, cin, cout] = [8, 32, 32, 128, 64];
  const flops = 2 * b * h * w * cin * 16 * cout;
  const x = tf.tensor(randn(b * h * w * cin), [b, h, w, cin]);
  const k = tf.tensor(randn(16 * cout * cin), [4, 4, cout, cin]);
  report(`conv2dTranspose 4x4 s2 p1 [${b},${h},${w},${cin}]->[${b},${2 * h},${2 * w},${cout}]`, flops,
    best(() => tf.dispose(tf.conv2dTranspose(x, k, [b, 2 * h, 2 * w, cout], 2, 1))), 'native');
  tf.dispose([x, k]);
}

console.log(`\naddon: ${JSON.stringify(nativeInfo())}, reps: best of ${reps}`);
if (flag('--json')) console.log(JSON.stringify(rows));
