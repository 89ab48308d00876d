// The native backend's fused kernels against their op chains, batch 128 at the mnist preset's two
// largest levels (forward, and forward + backward; second best of the last 4 of 5 runs):
// the generator epilogue (nn/style-epilogue.ts) and the encoder statistics (nn/instance-stats.ts).
// Run after `npm run build`:
//   node bench/fused.mjs   (ALAE_FUSED=0 or ALAE_NATIVE_FUSED=0 makes both rows of each pair the chain)
import { tf } from '../dist/tf.js';
import { useBackend } from '../dist/backend/backend.js';
import { styleEpilogue, styleEpilogueChain } from '../dist/nn/style-epilogue.js';
import { instanceStats, instanceStatsChain } from '../dist/nn/instance-stats.js';
await useBackend('native');
const N = 128;

/** Times forward (f) and forward + backward (g) of one op; prints one row. */
function time(label, f, g) {
  const tF = [], tB = [];
  for (let i = 0; i < 5; i++) {
    let t0 = performance.now(); tf.dispose(f().map((t) => (t.dataSync(), t))); tF.push(performance.now() - t0);
    t0 = performance.now(); tf.dispose(g().map((t) => (t.dataSync(), t))); tB.push(performance.now() - t0);
  }
  const m = (a) => a.slice(1).sort((p, q) => p - q)[1];
  console.log(label, 'fwd ms', m(tF).toFixed(1), 'fwd+bwd ms', m(tB).toFixed(1));
}

for (const [r, c] of [[16, 128], [32, 64]]) {
  const x = tf.randomNormal([N, r, r, c]), noise = tf.randomNormal([N, r, r, 1]), nw = tf.randomNormal([c]), b = tf.randomNormal([c]);
  const style = tf.randomNormal([N, 2 * c]), dy = tf.randomNormal([N, r, r, c]), ds = tf.randomNormal([N, 2 * c]);
  for (const [name, f] of [['chain', styleEpilogueChain], ['fused', styleEpilogue]]) {
    const g = tf.grads((x, nw, b, s) => tf.sum(tf.mul(f(x, nw, noise, b, s), dy)));
    time(`epilogue ${r}x${r}x${c} ${name}`, () => [f(x, nw, noise, b, style)], () => g([x, nw, b, style]));
  }
  for (const [name, f] of [['chain', instanceStatsChain], ['fused', instanceStats]]) {
    const g = tf.grad((x) => {
      const s = f(x, 1e-5);
      return tf.add(tf.sum(tf.mul(s.normed, dy)), tf.sum(tf.mul(s.stats, ds)));
    });
    time(`stats    ${r}x${r}x${c} ${name}`, () => Object.values(f(x, 1e-5)), () => [g(x)]);
  }
}
