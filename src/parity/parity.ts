/**
 * Parity with the reference implementation: runs every case of a folder
 * laid out like ../shared/alae-reference/* (see its README) and reports the
 * error of each as max|ours - reference| / max|reference| over its tensors.
 */
import path from 'node:path';
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { AlaeError } from '../errors.js';
import { AlaeModel } from '../model/alae.js';
import type { NoiseMaps } from '../model/generator.js';
import { copyGap, importCheckpoint, type ReferenceCheckpoint } from '../io/import.js';
import { f32, readSafetensors, type SafeTensor } from '../io/safetensors.js';
import { fromTorchLayout, nchwToNhwc } from '../io/layout.js';
import { disposeGrads, lossAE, lossD, lossG, type LossResult } from '../train/losses.js';
import { disposeParts, sumParts, type GradParts } from '../train/grad-parts.js';
import { LREQAdam } from '../train/lreq-adam.js';

export type CaseStatus = 'ok' | 'FAIL' | 'not run';

export interface CaseResult {
  name: string;
  /** max over tensors of max|ours - ref| / max|ref|; null when not run. */
  err: number | null;
  tol: number;
  status: CaseStatus;
  /** Which tensor had the largest error, or why the case did not run. */
  detail: string;
}

export const INFERENCE_TOL = 1e-4;
export const TRAINING_TOL = 2e-3;

/** max|a - b| / max|b|. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : d;
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

class Expected {
  constructor(private readonly tensors: Map<string, SafeTensor>, private readonly file: string) {}
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  names(prefix: string): string[] {
    return [...this.tensors.keys()].filter((k) => k.startsWith(prefix));
  }
  raw(name: string): { data: Float32Array; shape: number[] } {
    const t = this.tensors.get(name);
    if (!t) throw new AlaeError(`missing tensor ${name}`, this.file);
    return { data: f32(t), shape: t.shape };
  }
  /** An NCHW tensor as an NHWC tf tensor. */
  image(name: string): Tensor4D {
    const r = nchwToNhwc(this.raw(name).data, this.raw(name).shape);
    return tf.tensor4d(r.data, r.shape as [number, number, number, number]);
  }
  tensor(name: string): Tensor {
    const r = this.raw(name);
    return tf.tensor(r.data, r.shape);
  }
  noise(prefix: string): NoiseMaps {
    return this.names(`${prefix}/noise_`).sort().map((n) => this.image(n));
  }
}

/**
 * Below this fraction of the largest reference magnitude in a case, a
 * tensor is zero to float32 precision: an analytically zero gradient (e.g.
 * a bias that an instance norm cancels) comes out of any float32 run as
 * rounding noise of about 1e-7 of the case's scale, which no other
 * implementation can reproduce. Such a tensor agrees when ours is zero to
 * the same precision.
 */
export const ZERO_FLOOR = 1e-5;

/** Compare named tensors; returns the worst error and where. */
async function compare(pairs: Array<[string, Tensor | Float32Array, Float32Array]>): Promise<{ err: number; where: string }> {
  let err = 0;
  let where = '';
  const ours: Float32Array[] = [];
  for (const [, t] of pairs) ours.push(t instanceof Float32Array ? t : ((await t.data()) as Float32Array));
  const maxAbs = (a: Float32Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const floor = ZERO_FLOOR * Math.max(0, ...pairs.map(([, , ref]) => maxAbs(ref)));
  const zeros: string[] = [];
  pairs.forEach(([name, , ref], i) => {
    if (pairs.length > 1 && maxAbs(ref) < floor && maxAbs(ours[i]) < floor && ours[i].length === ref.length) {
      zeros.push(name);
      return;
    }
    const e = relErr(ours[i], ref);
    if (!(e <= err)) {
      err = e;
      where = name;
    }
  });
  if (zeros.length) where += `${where ? '; ' : ''}zero to float32 precision in both: ${zeros.join(', ')}`;
  return { err, where };
}

export interface ParityOptions {
  /** Called as each case finishes. */
  onCase?: (r: CaseResult) => void;
}

/** Run every case of one reference folder. */
export async function runParity(dir: string, opts: ParityOptions = {}): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const report = (r: CaseResult): void => {
    results.push(r);
    opts.onCase?.(r);
  };
  const run = async (name: string, tol: number, f: () => Promise<{ err: number; where: string }>): Promise<void> => {
    try {
      const { err, where } = await f();
      report({ name, err, tol, status: err <= tol ? 'ok' : 'FAIL', detail: where });
    } catch (e) {
      report({ name, err: null, tol, status: 'not run', detail: e instanceof Error ? e.message : String(e) });
    }
  };

  const zipFile = path.join(dir, 'checkpoint.zip.pth');
  const legacyFile = path.join(dir, 'checkpoint.legacy.pth');
  const expectedFile = path.join(dir, 'expected.safetensors');
  let ckpt: ReferenceCheckpoint | null = null;
  let legacy: ReferenceCheckpoint | null = null;
  try {
    ckpt = await importCheckpoint(zipFile);
  } catch (e) {
    report({ name: 'checkpoint_formats', err: null, tol: 0, status: 'not run', detail: (e as Error).message });
  }
  if (ckpt) {
    await run('checkpoint_formats', 0, async () => {
      legacy = await importCheckpoint(legacyFile);
      let err = 0;
      let where = '';
      const a = ckpt!.raw;
      const b = legacy.raw;
      if (a.size !== b.size) return { err: Infinity, where: `${a.size} vs ${b.size} tensors` };
      for (const [k, t] of a) {
        const u = b.get(k);
        const same = u && u.shape.join() === t.shape.join() && Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        if (!same) {
          err = Infinity;
          where = k;
          break;
        }
      }
      return { err, where: where || `${a.size} tensors bit-identical` };
    });
  }
  if (!ckpt) return results;
  for (const copy of ['averaged', 'trained'] as const) if (!ckpt[copy]) throw new AlaeError(`${copyGap(ckpt.contents, copy)}; parity needs both copies`, zipFile);
  const exp = new Expected((await readSafetensors(expectedFile)).tensors, expectedFile);
  const cfg = ckpt.config;
  const L = cfg.model.layerCount;
  const lo = L - 2;
  const model = AlaeModel.fromArrays(cfg, ckpt.averaged!, zipFile);
  const slotsPsi = (): Tensor => tf.tidy(() => model.truncate(model.broadcastStyles(model.map(exp.tensor('input/z'))), 0.7, 8));
  try {
    await run('encode', INFERENCE_TOL, async () => {
      const [w, d] = tf.tidy(() => {
        const w = model.encode(exp.image('input/x'));
        return [w, model.discriminate(w)];
      });
      const r = await compare([['encode/w', w, exp.raw('encode/w').data], ['encode/d', d, exp.raw('encode/d').data]]);
      tf.dispose([w, d]);
      return r;
    });
    for (const prefix of exp.names('encode_lod').map((n) => n.split('/')[0]).filter((v, i, a) => a.indexOf(v) === i)) {
      const m = /^encode_lod(\d+)_blend([\d.]+)$/.exec(prefix);
      if (!m) continue;
      await run(prefix, INFERENCE_TOL, async () => {
        const w = tf.tidy(() => model.encode(exp.image(`${prefix}/x`), { lod: Number(m[1]), blend: Number(m[2]) }));
        const r = await compare([[`${prefix}/w`, w, exp.raw(`${prefix}/w`).data]]);
        w.dispose();
        return r;
      });
    }
    await run('mapping', INFERENCE_TOL, async () => {
      const w = tf.tidy(() => model.map(exp.tensor('input/z')));
      const r = await compare([['mapping/w', w, exp.raw('mapping/w').data]]);
      w.dispose();
      return r;
    });
    const decodeCase = async (prefix: string, stylesOf: () => Tensor, lod: number, blend: number, extra: Array<[string, Tensor]> = []): Promise<{ err: number; where: string }> => {
      const noise = exp.noise(prefix);
      const img = tf.tidy(() => model.decode(stylesOf(), { lod, blend, noise }));
      const ref = nchwToNhwc(exp.raw(`${prefix}/image`).data, exp.raw(`${prefix}/image`).shape);
      const r = await compare([[`${prefix}/image`, img, ref.data], ...extra.map(([n, t]): [string, Tensor, Float32Array] => [n, t, exp.raw(n).data])]);
      tf.dispose([img, ...noise, ...extra.map((e) => e[1])]);
      return r;
    };
    await run('decode', INFERENCE_TOL, () => decodeCase('decode', () => model.broadcastStyles(exp.tensor('encode/w')), L - 1, 1));
    await run('mix_coarse', INFERENCE_TOL, () => {
      // Slots 0..3 from the batch rolled by one (torch.roll(w, 1, 0)), the rest from the batch itself.
      const styles = tf.tidy(() => {
        const w = exp.tensor('encode/w');
        const n = w.shape[0];
        const rolled = tf.concat([tf.slice(w, [n - 1, 0], [1, -1]), tf.slice(w, [0, 0], [n - 1, -1])], 0);
        return model.mixStyles(model.broadcastStyles(w), model.broadcastStyles(rolled), [0, 4]);
      });
      return decodeCase('mix_coarse', () => tf.clone(styles), L - 1, 1, [['mix_coarse/styles', styles]]);
    });
    for (const prefix of exp.names('decode_lod').map((n) => n.split('/')[0]).filter((v, i, a) => a.indexOf(v) === i)) {
      const m = /^decode_lod(\d+)_blend([\d.]+)$/.exec(prefix);
      if (!m) continue;
      await run(prefix, INFERENCE_TOL, () => decodeCase(prefix, () => model.broadcastStyles(exp.tensor('encode/w')), Number(m[1]), Number(m[2])));
    }
    await run('generate_truncated', INFERENCE_TOL, () => decodeCase('generate_truncated', slotsPsi, L - 1, 1, [['generate_truncated/styles', slotsPsi()]]));
    void lo;
  } finally {
    model.dispose();
  }

  // Training cases: the trained (non-averaged) weights as stored in the checkpoint.
  const trained = AlaeModel.fromArrays(cfg, ckpt.trained!, zipFile);
  const level = { lod: L - 1, blend: 1 };
  const gradPairs = async (prefix: string, r: LossResult): Promise<Array<[string, Float32Array, Float32Array]>> => {
    const names = exp.names(`${prefix}/grad/`).map((n) => n.slice(prefix.length + 6));
    const pairs: Array<[string, Float32Array, Float32Array]> = [];
    for (const n of names) {
      const spec = trained.specs.find((s) => s.name === n);
      const g = r.grads.get(n);
      if (!spec || !g) throw new AlaeError(`no gradient for ${n}`);
      const ref = exp.raw(`${prefix}/grad/${n}`);
      const sum = sumParts(g);
      const ours = (await sum.data()) as Float32Array;
      sum.dispose();
      pairs.push([`${prefix}/grad/${n}`, ours, fromTorchLayout(ref.data, ref.shape, spec.layout).data]);
    }
    const extra = [...r.grads.keys()].filter((k) => !names.includes(k));
    if (extra.length) throw new AlaeError(`gradients the reference does not have: ${extra.slice(0, 3).join(', ')}`);
    return pairs;
  };
  try {
    await run('loss_d', TRAINING_TOL, async () => {
      const real = exp.image('input/x');
      const fake = exp.image('loss_d/fake');
      const r = await lossD(trained, real, fake, { ...level, r1Gamma: 10 });
      tf.dispose([real, fake]);
      const out = await compare([['loss_d/value', new Float32Array([r.value]), exp.raw('loss_d/value').data], ...(await gradPairs('loss_d', r))]);
      disposeGrads(r);
      return out;
    });
    // Steps 2 and 3 from the same z, each with its own recorded noise.
    for (const [name, loss] of [['loss_g', lossG], ['loss_ae', lossAE]] as const) {
      await run(name, TRAINING_TOL, async () => {
        const z = exp.tensor('input/z');
        const noise = exp.noise(name);
        const r = await loss(trained, { z, noise }, level);
        tf.dispose([z, ...noise]);
        const out = await compare([[`${name}/value`, new Float32Array([r.value]), exp.raw(`${name}/value`).data], ...(await gradPairs(name, r))]);
        disposeGrads(r);
        return out;
      });
    }
    await run('adam_step', TRAINING_TOL, async () => {
      // The optimizer is fed the reference's own recorded gradients, so this case checks LREQAdam
      // alone (our gradients are checked by loss_d and loss_g).
      if (!ckpt!.optimizers) throw new AlaeError('the checkpoint has no optimizer state');
      const refGrads = (prefix: string): Map<string, GradParts> => {
        const m = new Map<string, GradParts>();
        for (const n of exp.names(`${prefix}/grad/`)) {
          const name = n.slice(prefix.length + 6);
          const spec = trained.specs.find((s) => s.name === name);
          if (!spec) throw new AlaeError(`unknown parameter ${name}`);
          const ref = exp.raw(n);
          m.set(name, [tf.tensor(fromTorchLayout(ref.data, ref.shape, spec.layout).data, spec.shape)]);
        }
        return m;
      };
      const gd = refGrads('loss_d');
      const gg = refGrads('loss_g');
      const encOpt = new LREQAdam(trained, ['encoder', 'mapping_d'], { lr: 0.0015, beta2: 0.99 });
      const decOpt = new LREQAdam(trained, ['decoder', 'mapping_f'], { lr: 0.0015, beta2: 0.99 });
      encOpt.load(ckpt!.optimizers.encoder, trained);
      decOpt.load(ckpt!.optimizers.decoder, trained);
      encOpt.step(trained, gd);
      decOpt.step(trained, gg);
      for (const g of [...gd.values(), ...gg.values()]) disposeParts(g);
      encOpt.dispose();
      decOpt.dispose();
      const pairs: Array<[string, Tensor | Float32Array, Float32Array]> = [];
      for (const n of exp.names('adam_step/')) {
        const name = n.slice('adam_step/'.length);
        const spec = trained.specs.find((s) => s.name === name);
        if (!spec) throw new AlaeError(`unknown parameter ${name}`);
        const ref = exp.raw(n);
        pairs.push([n, trained.vars.get(name)!, fromTorchLayout(ref.data, ref.shape, spec.layout).data]);
      }
      if (pairs.length !== trained.specs.length) throw new AlaeError(`adam_step has ${pairs.length} parameters, the model ${trained.specs.length}`);
      return compare(pairs);
    });
  } finally {
    trained.dispose();
  }
  return results;
}

/** The line printed per case: `case <name> max_rel_err <value> ok|FAIL|not run`. */
export function formatCase(r: CaseResult): string {
  const v = r.err === null ? '-' : r.err === 0 ? '0' : r.err.toExponential(2);
  return `case ${r.name} max_rel_err ${v} ${r.status}`;
}
