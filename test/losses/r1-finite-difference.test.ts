import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { resolveConfig } from '../../src/config/config.js';
import { AlaeModel } from '../../src/model/alae.js';
import { disposeGrads, lossAE, lossD, lossG, type LossResult } from '../../src/train/losses.js';
import { sumParts } from '../../src/train/grad-parts.js';
import { Rng } from '../../src/util/random.js';
import { testBackend } from '../setup-backend.js';

beforeAll(testBackend);

/**
 * Directional derivatives of each loss along a random direction in one
 * parameter tensor, by central differences, against <grad, direction> from
 * autodiff. For lossD this checks the R1 penalty's double backprop.
 *
 * The networks are piecewise linear (leaky ReLU), and the R1 penalty, a
 * function of the input gradient, jumps when a unit changes side of a kink;
 * steps are kept small and the median of three step sizes is used.
 */
describe('loss gradients against finite differences', () => {
  const cfg = resolveConfig('test-micro');
  const level = { lod: 2, blend: 1 };
  const rngx = new Rng(11);
  const real = tf.tensor4d(rngx.normals(2 * 16 * 16 * 3), [2, 16, 16, 3]);
  const fake = tf.tensor4d(rngx.normals(2 * 16 * 16 * 3), [2, 16, 16, 3]);
  const z = tf.tensor2d(rngx.normals(2 * 16), [2, 16]);

  function check(name: string, tensors: string[], run: (m: AlaeModel) => Promise<LossResult>, steps: (tensor: string) => number[] = () => [3e-4, 2e-4, 1e-4]): void {
    it(name, async () => {
      const m = AlaeModel.create(cfg, 21);
      const rng = new Rng(5);
      // non-trivial values everywhere (the reference init leaves noise weights and biases at 0)
      for (const [k, v] of m.vars) if (/noise_weight|bias/.test(k)) v.assign(tf.tensor(rng.normals(v.size).map((x) => 0.1 * x), v.shape));
      const r = await run(m);
      for (const t of tensors) {
        const v = m.vars.get(t)!;
        const base = v.dataSync().slice();
        const dir = rng.normals(v.size).map((x) => 0.1 * x);
        const g = r.grads.get(t);
        expect(g, `${t} has a gradient`).toBeDefined();
        const sum = sumParts(g!);
        const gv = sum.dataSync();
        sum.dispose();
        let analytic = 0;
        for (let i = 0; i < dir.length; i++) analytic += gv[i] * dir[i];
        const at = async (eps: number): Promise<number> => {
          v.assign(tf.tensor(base.map((x, i) => x + eps * dir[i]), v.shape));
          const x = await run(m);
          disposeGrads(x);
          return x.value;
        };
        // central differences at small steps (a step that crosses a kink is off by a discrete
        // jump, rare at these sizes); the median of three is the estimate
        const est: number[] = [];
        for (const eps of steps(t)) est.push(((await at(eps)) - (await at(-eps))) / (2 * eps));
        est.sort((a, b) => a - b);
        const fd = est[1];
        v.assign(tf.tensor(base, v.shape));
                expect(Math.abs(fd - analytic) / Math.abs(analytic), `${t}: fd ${fd} vs autodiff ${analytic}`).toBeLessThan(5e-2); // float32 rounding of the loss at these steps is about 1%
      }
      disposeGrads(r);
      m.dispose();
    });
  }

  check('lossD with a dominant R1 term (second derivatives through E and D)', ['encoder.encode_block.1.conv_1.weight', 'encoder.encode_block.0.conv_2.weight', 'encoder.from_rgb.0.from_rgb.weight', 'encoder.encode_block.2.style_2.weight', 'mapping_d.map_blocks.0.weight'], (m) =>
    lossD(m, real, fake, { ...level, r1Gamma: 1000 }),
    // The R1 term is large (gamma 1000), so tiny steps still move it far above float32 rounding.
    // D is linear (no kinks), so its weights take larger steps, which float32 rounding needs.
    (t) => (t.startsWith('mapping_d.') ? [3e-3, 1e-3, 3e-4] : [3e-5, 2e-5, 1e-5]),
  );
  check('lossG', ['decoder.decode_block.0.style_1.weight', 'mapping_f.map_blocks.0.fc.weight'], async (m) => {
    const noise = m.makeNoise(2, 2, 1);
    const r = await lossG(m, { z, noise }, level);
    tf.dispose(noise);
    return r;
  });
  check('lossAE', ['encoder.encode_block.1.style_1.weight', 'decoder.decode_block.1.style_2.weight'] /* not F: its output is also the detached target */, async (m) => {
    const noise = m.makeNoise(2, 2, 1);
    const r = await lossAE(m, { z, noise }, level);
    tf.dispose(noise);
    return r;
  });

  it('losses leave no tensors behind once their gradients are disposed', async () => {
    const m = AlaeModel.create(cfg, 3);
    const before = tf.memory().numTensors;
    disposeGrads(await lossD(m, real, fake, { ...level, r1Gamma: 10 }));
    const noise = m.makeNoise(2, 2, 1);
    disposeGrads(await lossG(m, { z, noise, mixing: { z2: z, cutoff: 3 } }, level));
    disposeGrads(await lossAE(m, { z, noise }, { lod: 2, blend: 0.5 }));
    tf.dispose(noise);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});
