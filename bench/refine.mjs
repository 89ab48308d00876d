#!/usr/bin/env node
/**
 * Refinement (api/refine.ts) measured on an MNIST model: reconstruction MSE
 * and digit kept against steps, from E(x) and from the average w, and the
 * time per image: the command behind README's table (`alae eval --refine N`
 * measures one step count).
 *
 *   npm run build && node bench/refine.mjs [options]
 *
 * Report (default): evaluateMnist with its `refine` option on `--held-out`
 * held-out digits (default 200, spread evenly: positions 0, 5, 10, ... of the
 * held-out split), one run per start to the largest step count, measured at
 * each (refine's snapshotAt); s/image at 0 steps from E(x) is the one pass
 * (E and G), at k steps the refinement's time to step k (E(x) and k steps).
 *   --steps 0,10,25,50,100,200   --from encoder,mean   --held-out 200
 *   --space w   --lr <default>   --perceptual <default>   --json <file>
 *
 * Tuning (--tune): a grid of start x space x lr x perceptual weight on
 * other held-out digits (positions 2, 7, 12, ...: none of the reported
 * ones), refined for `--tune-steps` steps; MSE and digit kept as eval
 * measures them (1-NN over all 9000 train digits).
 *   --tune --tune-digits 100 --tune-steps 50 --from encoder --space w,w+ --lr 0.01,0.03,0.1 --perceptual 0,1,10
 *
 * Time per image (--time): `--images` images refined one at a time (batch
 * 1) with the default settings, on the bundled model and on a random-init
 * celeba-hq256 (256x256): `--timed-steps` steps timed (default 100), given
 * per step and as 100 steps (every step costs the same). `--perceptual 0`
 * times the pixel loss alone.
 *   --time --images 2 --timed-steps 100 [--presets mnist,celeba-hq256]
 *
 * --model <file> (default: the bundled model), --backend <name> (default native).
 */
import { writeFile } from 'node:fs/promises';
import { execSync } from 'node:child_process';
import { tf } from '../dist/tf.js';
import { useBackend } from '../dist/backend/backend.js';
import { Alae, loadModel } from '../dist/api/alae.js';
import { DEFAULT_MODEL } from '../dist/api/bundled.js';
import { refine, REFINE_DEFAULTS } from '../dist/api/refine.js';
import { evaluateMnist } from '../dist/eval/mnist.js';
import { nearestNeighbours } from '../dist/eval/knn.js';
import { MnistDataset, mnistSplit } from '../dist/data/mnist.js';
import { imagesToFloat } from '../dist/image/image.js';
import { resolveConfig } from '../dist/config/config.js';
import { benchModel } from '../dist/bench/run.js';
import { flag, option } from './args.mjs';

const list = (name, dflt) => String(option(name, dflt)).split(',');
const numbers = (name, dflt) => list(name, dflt).map(Number);
const load = () => String(execSync('uptime')).trim().replace(/.*load average: /, 'load ');

await useBackend(option('--backend', 'native'));
const modelFile = option('--model', DEFAULT_MODEL);

if (flag('--time')) await time();
else if (flag('--tune')) await tune();
else await report();

async function report() {
  const alae = await loadModel(modelFile, { align: 'none' });
  const heldOut = Number(option('--held-out', 200));
  const steps = numbers('--steps', '0,10,25,50,100,200');
  const rows = [];
  const base = {
    space: option('--space', REFINE_DEFAULTS.space),
    lr: Number(option('--lr', REFINE_DEFAULTS.lr)),
    weights: { perceptual: Number(option('--perceptual', REFINE_DEFAULTS.weights.perceptual)) },
  };
  console.log(`${modelFile}: ${heldOut} held-out digits, space ${base.space}, lr ${base.lr}, perceptual ${base.weights.perceptual}; ${load()}`);
  // One run per start, measured at each step count (snapshots: step k of the longest run is the k-step result).
  for (const from of list('--from', 'encoder,mean')) {
    const r = await evaluateMnist(alae, { heldOutLimit: heldOut, generatedCount: 0, batchSize: heldOut, refine: { ...base, from, steps: Math.max(...steps), snapshotAt: steps } });
    const onePass = (r.stageSeconds['encode-held-out'] + r.stageSeconds.reconstruct) / r.heldOut;
    for (const f of r.refinedAt) {
      const seconds = f.steps === 0 && from === 'encoder' ? onePass : f.secondsPerImage;
      rows.push({ from, ...f, secondsPerImage: seconds, onePassMse: r.reconstructionMse, onePassLabelKept: r.reconstructionLabelKept, inputsLabelKept: r.pixel1nnOnInputs });
      console.log(`from ${from.padEnd(7)} steps ${String(f.steps).padStart(3)}: MSE ${f.reconstructionMse.toFixed(4)} (${pctChange(f.reconstructionMse, r.reconstructionMse)} vs one pass ${r.reconstructionMse.toFixed(4)}), digit kept ${pct(f.reconstructionLabelKept)} (one pass ${pct(r.reconstructionLabelKept)}, inputs ${pct(r.pixel1nnOnInputs)}), ${seconds.toFixed(3)} s/image`);
    }
    console.log(`(${r.seconds.toFixed(0)} s; ${load()})`);
  }
  const json = option('--json');
  if (json) await writeFile(json, `${JSON.stringify(rows, null, 2)}\n`);
  alae.dispose();
}

async function tune() {
  const alae = await loadModel(modelFile, { align: 'none' });
  const n = Number(option('--tune-digits', 100));
  const steps = Number(option('--tune-steps', 50));
  const ds = new MnistDataset();
  const test = mnistSplit('test');
  const train = mnistSplit('train');
  const digit = async (i) => ({ data: await ds.get(i, 32), width: 32, height: 32, channels: 1 });
  // Positions 2, 7, 12, ...: never one of the reported digits (0, 5, 10, ...).
  const picks = Array.from({ length: n }, (_, k) => test[5 * k + 2]);
  const images = await Promise.all(picks.map(digit));
  const labels = picks.map((i) => ds.label(i));
  const trainX = imagesToFloat(await Promise.all(Array.from(train, digit)), 32, 1);
  const trainLabels = Array.from(train, (i) => ds.label(i));
  const x = imagesToFloat(images, 32, 1);
  const measure = async (imgs) => {
    const y = imagesToFloat(imgs, 32, 1);
    let se = 0;
    for (let i = 0; i < y.length; i++) se += (y[i] - x[i]) ** 2;
    const nn = await nearestNeighbours(y, trainX, 1024, 1);
    const kept = labels.filter((l, i) => trainLabels[nn[i]] === l).length / n;
    return { mse: se / y.length, kept };
  };
  console.log(`tuning on ${n} held-out digits (positions 2, 7, ...), ${steps} steps; ${load()}`);
  const onePass = await measure((await refine(alae, images, { steps: 0, batchSize: n })).images);
  console.log(`one pass: MSE ${onePass.mse.toFixed(4)}, digit kept ${pct(onePass.kept)}`);
  for (const from of list('--from', 'encoder')) {
    for (const space of list('--space', 'w,w+')) {
      for (const lr of numbers('--lr', '0.01,0.03,0.1')) {
        for (const perceptual of numbers('--perceptual', '0,1,10')) {
          const t0 = performance.now();
          const r = await refine(alae, images, { steps, from, space, lr, weights: { perceptual }, batchSize: n });
          const m = await measure(r.images);
          const s = (performance.now() - t0) / 1000;
          console.log(`from ${from.padEnd(7)} space ${space.padEnd(2)} lr ${String(lr).padEnd(5)} perceptual ${String(perceptual).padEnd(4)}: MSE ${m.mse.toFixed(4)} (${pctChange(m.mse, onePass.mse)}), digit kept ${pct(m.kept)}; ${s.toFixed(0)} s; ${load()}`);
        }
      }
    }
  }
  alae.dispose();
}

async function time() {
  const count = Number(option('--images', 2));
  const steps = Number(option('--timed-steps', 100));
  const weights = { perceptual: Number(option('--perceptual', REFINE_DEFAULTS.weights.perceptual)) };
  for (const preset of list('--presets', 'mnist,celeba-hq256')) {
    const alae =
      preset === 'mnist'
        ? await loadModel(modelFile, { align: 'none' })
        : new Alae(benchModel(resolveConfig(preset), 1), `random ${preset}`, tf.getBackend(), { align: 'none', batchSize: 1 });
    const res = alae.resolution;
    const images = Array.from({ length: count }, (_, k) => ({
      data: Uint8Array.from({ length: res * res * alae.channels }, (_, i) => (i * 31 + k * 17) % 256),
      width: res,
      height: res,
      channels: alae.channels,
    }));
    // Warm-up: one image, 2 steps (kernel set-up, first allocations).
    await refine(alae, images.slice(0, 1), { steps: 2, batchSize: 1, weights });
    // The fixed part (E(x), the final loss and decode), to take out of the per-step time.
    const f0 = performance.now();
    await refine(alae, images, { steps: 0, batchSize: 1, weights });
    const fixed = (performance.now() - f0) / 1000 / count;
    const before = load();
    const t0 = performance.now();
    await refine(alae, images, { steps, batchSize: 1, weights });
    const total = (performance.now() - t0) / 1000 / count;
    const perStep = (total - fixed) / steps;
    console.log(
      `${alae.file} (${res}x${res}, perceptual ${weights.perceptual}): ${perStep.toFixed(3)} s per step, ${(fixed + 100 * perStep).toFixed(1)} s per image for 100 steps ` +
        `(${steps} steps timed, batch 1, ${count} images, ${tf.getBackend()}); before: ${before}; after: ${load()}`,
    );
    alae.dispose();
  }
}

function pct(x) {
  return `${(100 * x).toFixed(1)}%`;
}
function pctChange(x, base) {
  const c = (100 * (x - base)) / base;
  return `${c >= 0 ? '+' : ''}${c.toFixed(1)}%`;
}
