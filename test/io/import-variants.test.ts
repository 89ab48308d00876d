/**
 * Every subset of a checkpoint that the reference's loader (checkpointer.py
 * Checkpointer.load) accepts imports here: variants of the shared
 * checkpoint, written back in both formats by test/io/torch-save.ts, must
 * give bit-identical weights to the full file, and what a job needs and a
 * file lacks is one line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { importCommand } from '../../src/cli/import.js';
import { infoCommand } from '../../src/cli/info.js';
import { importCheckpoint, readReferenceContents, type ReferenceCheckpoint } from '../../src/io/import.js';
import { chooseWeights, openWeights } from '../../src/io/open.js';
import { PickleDict, type PickleValue } from '../../src/io/pickle.js';
import { loadTorchCheckpoint, TorchStorage, TorchTensor } from '../../src/io/pth.js';
import { readReferenceStart } from '../../src/train/reference.js';
import { torchSave } from './torch-save.js';

const REF = path.resolve('../shared/alae-reference');
const FULL = path.join(REF, 'tiny32', 'checkpoint.zip.pth');
const haveReference = existsSync(FULL);
const CLI = path.resolve('dist/cli/main.js');
const FORMATS = ['zip', 'legacy'] as const;
const AVERAGED = ['discriminator_s', 'generator_s', 'mapping_tl_s', 'mapping_fl_s'];
const TRAINED = ['discriminator', 'generator', 'mapping_tl', 'mapping_fl'];

/** A copy of the checkpoint's top dict with `models` holding only `keep` (None where `none`), and `top` edits. */
function variant(full: PickleDict, keep: string[], opts: { none?: string[]; auxiliary?: boolean; edit?: (top: PickleDict, models: PickleDict) => void } = {}): PickleDict {
  const source = full.get('models') as PickleDict;
  const models = new PickleDict('dict');
  for (const [k, v] of source) if (keep.includes(String(k))) models.set(k, opts.none?.includes(String(k)) ? null : v);
  const top = new PickleDict('dict');
  top.set('models', models);
  if (opts.auxiliary ?? true) top.set('auxiliary', full.get('auxiliary') as PickleValue);
  opts.edit?.(top, models);
  return top;
}

interface Case {
  name: string;
  build: (full: PickleDict) => PickleDict;
  averaged: boolean;
  trained: boolean;
  dlatentAvg: boolean;
  /** The auxiliary states come through: the scheduler's epoch, and with the trained networks the optimizers' state. */
  auxiliary: boolean;
}

const CASES: Case[] = [
  {
    name: 'averaged networks and dlatent_avg (an inference file, as published)',
    build: (f) => variant(f, [...AVERAGED, 'dlatent_avg'], { auxiliary: false }),
    averaged: true, trained: false, dlatentAvg: true, auxiliary: false,
  },
  { name: 'averaged networks alone', build: (f) => variant(f, AVERAGED, { auxiliary: false }), averaged: true, trained: false, dlatentAvg: false, auxiliary: false },
  {
    name: 'trained networks, dlatent_avg and auxiliary',
    build: (f) => variant(f, [...TRAINED, 'dlatent_avg']),
    averaged: false, trained: true, dlatentAvg: true, auxiliary: true,
  },
  { name: 'trained networks alone', build: (f) => variant(f, TRAINED, { auxiliary: false }), averaged: false, trained: true, dlatentAvg: false, auxiliary: false },
  {
    name: 'all nine models, no auxiliary',
    build: (f) => variant(f, [...TRAINED, ...AVERAGED, 'dlatent_avg'], { auxiliary: false }),
    averaged: true, trained: true, dlatentAvg: true, auxiliary: false,
  },
  {
    name: "mapping_tl saved as None (the trained copy is incomplete)",
    build: (f) => variant(f, [...TRAINED, ...AVERAGED, 'dlatent_avg'], { none: ['mapping_tl'] }),
    averaged: true, trained: false, dlatentAvg: true, auxiliary: true,
  },
  {
    name: 'mapping_tl_s saved as None (the averaged copy is incomplete)',
    build: (f) => variant(f, [...TRAINED, ...AVERAGED, 'dlatent_avg'], { none: ['mapping_tl_s'] }),
    averaged: false, trained: true, dlatentAvg: true, auxiliary: true,
  },
  {
    name: 'dlatent_avg saved as None',
    build: (f) => variant(f, [...TRAINED, ...AVERAGED, 'dlatent_avg'], { none: ['dlatent_avg'] }),
    averaged: true, trained: true, dlatentAvg: false, auxiliary: true,
  },
  {
    name: 'entries the reference does not load are ignored',
    build: (f) =>
      variant(f, [...TRAINED, ...AVERAGED, 'dlatent_avg'], {
        edit: (top, models) => {
          models.set('discriminator_ema', [1, 2, 3]);
          const aux = new PickleDict('dict');
          for (const [k, v] of top.get('auxiliary') as PickleDict) aux.set(k, v);
          aux.set('notes', 'kept by a fork');
          top.set('auxiliary', aux);
        },
      }),
    averaged: true, trained: true, dlatentAvg: true, auxiliary: true,
  },
  {
    // Checkpointer.load also takes auxiliary states from the top level, when an 'auxiliary' entry exists at all.
    name: 'optimizers and scheduler at the top level, beside an empty auxiliary',
    build: (f) =>
      variant(f, [...TRAINED, ...AVERAGED, 'dlatent_avg'], {
        auxiliary: false,
        edit: (top) => {
          top.set('auxiliary', new PickleDict('dict'));
          for (const [k, v] of f.get('auxiliary') as PickleDict) top.set(k, v);
        },
      }),
    averaged: true, trained: true, dlatentAvg: true, auxiliary: true,
  },
  {
    name: "optimizers without an 'auxiliary' entry (which the reference then ignores)",
    build: (f) =>
      variant(f, [...TRAINED, ...AVERAGED, 'dlatent_avg'], { auxiliary: false, edit: (top) => top.set('optimizers', f.get('auxiliary') as PickleValue) }),
    averaged: true, trained: true, dlatentAvg: true, auxiliary: false,
  },
];

const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectSameArrays(got: Map<string, Float32Array>, want: Map<string, Float32Array>, dlatentAvg: boolean): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [k, v] of want) {
    const g = got.get(k)!;
    if (k === 'dlatent_avg.buff' && !dlatentAvg) expect(g.every((x) => x === 0), k).toBe(true);
    else expect(bits(g).equals(bits(v)), k).toBe(true);
  }
}

describe.skipIf(!haveReference)('reference checkpoint variants', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'alae-variants-'));
  let full: PickleDict;
  let ref: ReferenceCheckpoint;
  const files = new Map<string, string>();
  const fileOf = (c: Case, format: (typeof FORMATS)[number]): string => files.get(`${c.name} ${format}`)!;

  beforeAll(async () => {
    full = (await loadTorchCheckpoint(FULL)) as PickleDict;
    ref = await importCheckpoint(FULL);
    CASES.forEach((c, i) => {
      for (const format of FORMATS) {
        const file = path.join(dir, `case${i}.${format}.pth`);
        writeFileSync(file, torchSave(c.build(full), format));
        files.set(`${c.name} ${format}`, file);
      }
    });
  });

  it('the writer round-trips: the full checkpoint written back imports bit-identically, in both formats', async () => {
    for (const format of FORMATS) {
      const file = path.join(dir, `full.${format}.pth`);
      writeFileSync(file, torchSave(full, format));
      const ck = await importCheckpoint(file);
      expect(ck.config).toEqual(ref.config);
      expect([...ck.raw.keys()]).toEqual([...ref.raw.keys()]);
      for (const [k, t] of ref.raw) expect(bits(ck.raw.get(k)!.data).equals(bits(t.data)), k).toBe(true);
    }
  });

  for (const c of CASES) {
    for (const format of FORMATS) {
      it(`${c.name} (${format}): imports, architecture inferred, weights bit-identical to the full file`, async () => {
        const ck = await importCheckpoint(fileOf(c, format));
        expect(ck.config).toEqual(ref.config);
        if (c.averaged) expectSameArrays(ck.averaged!, ref.averaged!, c.dlatentAvg);
        else expect(ck.averaged).toBeNull();
        if (c.trained) expectSameArrays(ck.trained!, ref.trained!, c.dlatentAvg);
        else expect(ck.trained).toBeNull();
        if (c.auxiliary && c.trained) {
          for (const which of ['encoder', 'decoder'] as const) {
            const want = ref.optimizers![which];
            const got = ck.optimizers![which];
            expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
            for (const [k, s] of Object.entries(want)) expect(got[k].step === s.step && bits(got[k].expAvgSq).equals(bits(s.expAvgSq)), k).toBe(true);
          }
        } else expect(ck.optimizers).toBeNull();
        expect(ck.contents.epoch).toBe(c.auxiliary ? 3 : null);
        // The header alone tells the same, and reads a small part of the file.
        const head = await readReferenceContents(fileOf(c, format));
        expect(head.contents).toEqual(ck.contents);
        expect(head.format).toBe(format);
        expect(head.bytesRead).toBeLessThan(readFileSync(fileOf(c, format)).length / 4);
      });
    }
  }

  it('by default a job takes the averaged networks, else the trained ones, and says so', async () => {
    const pick = async (c: Case) => chooseWeights(await openWeights(fileOf(c, 'zip')));
    const withAveraged = await pick(CASES[0]);
    expect([withAveraged.copy, withAveraged.notes]).toEqual(['averaged', []]);
    const trainedOnly = await pick(CASES[2]);
    expect(trainedOnly.copy).toBe('trained');
    expect(trainedOnly.notes).toEqual(['the file holds no averaged networks: took the trained networks']);
    const incomplete = await pick(CASES[6]);
    expect(incomplete.copy).toBe('trained');
    expect(incomplete.notes[0]).toContain('holds an incomplete averaged copy (mapping_tl_s is None)');
    // Without dlatent_avg, truncation falls back to the reference's initial average: zeros.
    const noAvg = await pick(CASES[1]);
    expect(noAvg.notes).toEqual([expect.stringMatching(/^no dlatent_avg in the file: the average w is zeros.*truncation pulls w toward 0/)]);
    expect(noAvg.arrays.get('dlatent_avg.buff')!.every((x) => x === 0)).toBe(true);
  });

  it('what a job needs and the file lacks is one line', async () => {
    const averagedOnly = fileOf(CASES[0], 'legacy');
    await expect(openWeights(averagedOnly).then((w) => chooseWeights(w, 'trained'))).rejects.toThrow(
      `${averagedOnly}: holds no trained networks; it holds the averaged ones: use those (--weights averaged)`,
    );
    await expect(readReferenceStart(averagedOnly)).rejects.toThrow(
      `${averagedOnly}: holds no trained networks or optimizer state; import it as a model instead (alae import), or start a new run from its weights (--init)`,
    );
    await expect(readReferenceStart(fileOf(CASES[5], 'zip'))).rejects.toThrow(/holds an incomplete trained copy \(mapping_tl is None\); import it as a model instead/);
    await expect(openWeights(fileOf(CASES[2], 'zip')).then((w) => chooseWeights(w, 'averaged'))).rejects.toThrow(/holds no averaged networks; it holds the trained ones: use those \(--weights trained\)$/);
  });

  it('a run resumes from the trained networks alone: averaged ones copied from them, fresh optimizers, epoch 0', async () => {
    const start = await readReferenceStart(fileOf(CASES[3], 'legacy'));
    expectSameArrays(start.trained, ref.trained!, false);
    expectSameArrays(start.averaged, ref.trained!, false);
    expect([start.optimizers, start.epoch]).toEqual([null, 0]);
    const withAux = await readReferenceStart(fileOf(CASES[2], 'zip'));
    expect(withAux.epoch).toBe(3);
    expect(withAux.optimizers).not.toBeNull();
  });

  it('the averaged networks alone fit a given preset and refuse another, as the full file does', async () => {
    const file = fileOf(CASES[0], 'zip');
    await expect(importCheckpoint(file, { preset: 'test-tiny32' })).resolves.toMatchObject({ config: { name: 'test-tiny32' } });
    await expect(importCheckpoint(file, { preset: 'mnist' })).rejects.toThrow(/does not fit preset 'mnist'/);
  });

  it('within a network every key and shape is checked; blur kernels may be left out (they are fixed) but not changed', async () => {
    const write = (name: string, edit: (g: PickleDict) => void): string => {
      const top = variant(full, [...AVERAGED, 'dlatent_avg'], { auxiliary: false });
      const models = top.get('models') as PickleDict;
      const g = new PickleDict('collections.OrderedDict');
      for (const [k, v] of models.get('generator_s') as PickleDict) g.set(k, v);
      edit(g);
      models.set('generator_s', g);
      const file = path.join(dir, `${name}.zip.pth`);
      writeFileSync(file, torchSave(top, 'zip'));
      return file;
    };
    const t = (g: PickleDict, k: string) => g.get(k) as TorchTensor;
    const wrongShape = write('wrong-shape', (g) => g.set('const', t(g, 'decode_block.0.noise_weight_1')));
    await expect(importCheckpoint(wrongShape)).rejects.toThrow(/wrong-shape\.zip\.pth: generator_s\.const: expected shape \[1,64,4,4\], found \[1,64,1,1\]/);
    const missing = write('missing', (g) => g.delete('const'));
    await expect(importCheckpoint(missing)).rejects.toThrow(/missing tensor generator_s\.const \(expected shape \[1,64,4,4\]\)/);
    const extra = write('extra', (g) => g.set('const_2', t(g, 'const')));
    await expect(importCheckpoint(extra)).rejects.toThrow(/1 tensors do not belong to a imported model: generator_s\.const_2/);
    const blurs = [...(full.get('models') as PickleDict).get('generator_s') as PickleDict].filter(([k]) => String(k).endsWith('.blur.weight'));
    expect(blurs.length).toBe(4);
    const noBlur = write('no-blur', (g) => blurs.forEach(([k]) => g.delete(k)));
    expectSameArrays((await importCheckpoint(noBlur)).averaged!, ref.averaged!, true);
    const changed = write('changed-blur', (g) => {
      const b = t(g, String(blurs[1][0]));
      const bytes = new Uint8Array(new Float32Array(b.numel).fill(1 / 9).buffer);
      g.set(blurs[1][0], new TorchTensor(new TorchStorage('float32', b.numel, 'box', 'cpu', 'made', bytes.length, () => bytes), 0, b.shape, b.stride));
    });
    await expect(importCheckpoint(changed)).rejects.toThrow(`generator_s.${String(blurs[1][0])} is not the reference's fixed blur kernel`);
  });

  it('a file without a complete copy does not import; its header still says what it holds', async () => {
    const file = path.join(dir, 'generator-only.zip.pth');
    writeFileSync(file, torchSave(variant(full, ['generator_s', 'mapping_fl_s', 'dlatent_avg', 'mapping_tl_s'], { none: ['mapping_tl_s'], auxiliary: false }), 'zip'));
    const why = 'no complete set of networks to import: the file holds an incomplete averaged copy (discriminator_s is missing, mapping_tl_s is None) and holds no trained networks';
    await expect(importCheckpoint(file)).rejects.toThrow(`${file}: ${why}`);
    const { contents } = await readReferenceContents(file);
    expect(contents.config).toBeNull();
    expect(contents.problem).toContain(why);
    expect(contents.models.filter((m) => m.state !== 'absent').map((m) => `${m.name} ${m.state}`)).toEqual(['dlatent_avg present', 'generator_s present', 'mapping_tl_s None', 'mapping_fl_s present']);
  });

  it("a legacy file cut after its pickles: the header reads, the weights do not", async () => {
    const bytes = torchSave(full, 'legacy');
    const file = path.join(dir, 'cut.legacy.pth');
    // The pickles end at 51,415 bytes; the tensors' data follows. Keep room for the largest
    // storage, which a sane file must be able to hold.
    const largest = Math.max(...[...ref.raw.values()].map((t) => t.data.length * 4));
    const cut = 60_000 + largest;
    expect(cut).toBeLessThan(bytes.length / 10);
    writeFileSync(file, bytes.subarray(0, cut));
    const { contents } = await readReferenceContents(file);
    expect(contents.config).toEqual(ref.config);
    expect(contents.copies).toEqual({ trained: true, averaged: true });
    await expect(importCheckpoint(file)).rejects.toThrow(/cut\.legacy\.pth: legacy storage .* claims|truncated/);
  });

  it('alae info lists networks and auxiliary states from the header; alae import says what it took', async () => {
    const info = await capture(() => infoCommand([fileOf(CASES[6], 'legacy')]));
    expect(info.status).toBe(0);
    expect(info.stdout).toContain('PyTorch legacy format');
    expect(info.stdout).toMatch(/E \(encoder\)\s+208,976\s+208,976\n/);
    expect(info.stdout).toMatch(/D \(mapping_d\)\s+4,224\s+None\n/);
    expect(info.stdout).toMatch(/dlatent_avg\s+256 values/);
    expect(info.stdout).toContain('auxiliary         encoder_optimizer (40 parameter states), decoder_optimizer (50 parameter states), scheduler (epoch 3), tracker');
    const bare = await capture(() => infoCommand([fileOf(CASES[1], 'zip')]));
    expect(bare.stdout).toMatch(/G \(generator\)\s+-\s+170,652\n/);
    expect(bare.stdout).toContain("auxiliary         none (no 'auxiliary' entry)");
    expect(bare.stdout).toMatch(/dlatent_avg\s+missing/);
    const out = path.join(dir, 'trained.safetensors');
    const imported = await capture(() => importCommand([fileOf(CASES[3], 'zip'), '--out', out]));
    expect(imported.status).toBe(0);
    expect(imported.stdout).toContain('note: the file holds no averaged networks: took the trained networks');
    expect(imported.stdout).toContain(`wrote ${out} (trained weights of `);
    // The built CLI: one line on stderr, nothing written.
    const refused = spawnSync(process.execPath, [CLI, 'import', fileOf(CASES[0], 'zip'), '--weights', 'trained', '--out', path.join(dir, 'x.safetensors')], { encoding: 'utf8' });
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim().split('\n')).toEqual([expect.stringMatching(/holds no trained networks; it holds the averaged ones/)]);
    expect(existsSync(path.join(dir, 'x.safetensors'))).toBe(false);
  });
});

/** Run a command in-process, with what it writes to stdout. */
async function capture(fn: () => Promise<number>): Promise<{ status: number; stdout: string }> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    chunks.push(String(s));
    return true;
  });
  try {
    return { status: await fn(), stdout: chunks.join('') };
  } finally {
    spy.mockRestore();
  }
}
