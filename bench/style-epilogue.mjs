// The generator epilogue, op chain vs fused kernel, batch 128 at the mnist preset's two largest levels
// (forward, and forward + backward; second best of the last 4 of 5 runs). Run after `npm run build`:
//   node bench/style-epilogue.mjs   (ALAE_NATIVE_FUSED=0 makes both rows the chain)
import { tf } from '../dist/tf.js';
import { useBackend } from '../dist/backend/backend.js';
import { styleEpilogue, styleEpilogueChain } from '../dist/nn/style-epilogue.js';
await useBackend('native');
const N = 128;
for (const [r, c] of [[16, 128], [32, 64]]) {
  const x = tf.randomNormal([N, r, r, c]), noise = tf.randomNormal([N, r, r, 1]), nw = tf.randomNormal([c]), b = tf.randomNormal([c]);
  const style = tf.randomNormal([N, 2 * c]), dy = tf.randomNormal([N, r, r, c]);
  for (const [name, f] of [['chain', styleEpilogueChain], ['fused', styleEpilogue]]) {
    const g = tf.grads((x, nw, b, s) => tf.sum(tf.mul(f(x, nw, noise, b, s), dy)));
    const tF = [], tB = [];
    for (let i = 0; i < 5; i++) {
      let t0 = performance.now(); const y = f(x, nw, noise, b, style); y.dataSync(); y.dispose(); tF.push(performance.now() - t0);
      t0 = performance.now(); const gs = g([x, nw, b, style]); gs.forEach((t) => t.dataSync()); gs.forEach((t) => t.dispose()); tB.push(performance.now() - t0);
    }
    const m = (a) => a.slice(1).sort((p, q) => p - q)[1];
    console.log(`${r}x${r}x${c}`, name, 'fwd ms', m(tF).toFixed(1), 'fwd+bwd ms', m(tB).toFixed(1));
  }
}
