import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AlaeError } from '../../src/errors.js';
import {
  PickleDict,
  PickleError,
  PickleGlobal,
  PickleOpaque,
  PickleSet,
  PickleTuple,
  pickleGet,
  unpickle,
  type PickleValue,
} from '../../src/io/pickle.js';
import {
  CheckpointError,
  TorchTensor,
  flattenStateDicts,
  loadTorchCheckpoint,
  readTorchCheckpoint,
  scalarToNumber,
  tensorToBigInt64,
  tensorToFloat32,
} from '../../src/io/pth.js';
import { ZipArchive, ZipError } from '../../src/io/zip.js';
import { makeZip } from './torch-save.js';

const REFERENCE = fileURLToPath(new URL('../../../shared/alae-reference/', import.meta.url));
const FOLDERS = ['tiny32', 'fused128'] as const;
const haveReference = existsSync(`${REFERENCE}tiny32/checkpoint.zip.pth`);

// --- hand-written pickles ------------------------------------------------------

type Part = number | readonly number[] | Uint8Array;
const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];
const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

function bytesOf(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else for (const b of p) out.push(b);
  }
  return Uint8Array.from(out);
}

/** Protocol-2 opcodes, as CPython writes them. */
const op = {
  proto: [0x80, 2],
  mark: 0x28,
  stop: 0x2e,
  tuple: 0x74,
  emptyTuple: 0x29,
  reduce: 0x52,
  binpersid: 0x51,
  none: 0x4e,
  newfalse: 0x89,
  emptyDict: 0x7d,
  setitems: 0x75,
  emptyList: 0x5d,
  appends: 0x65,
  int: (n: number): number[] => (n >= 0 && n < 256 ? [0x4b, n] : [0x4a, ...le32(n)]),
  str: (s: string): number[] => [0x58, ...le32(utf8(s).length), ...utf8(s)],
  global: (module: string, name: string): number[] => [0x63, ...utf8(`${module}\n${name}\n`)],
  intTuple: (xs: readonly number[]): number[] => [0x28, ...xs.flatMap((x) => op.int(x)), 0x74],
};

interface StorageSpec {
  key: string;
  type: string;
  numel: number;
  data: Uint8Array;
}
interface TensorSpec {
  storage: StorageSpec;
  offset: number;
  shape: number[];
  stride: number[];
}

/** `_rebuild_tensor_v2` of a persistent storage; legacy ids carry a sixth field (view metadata). */
function tensorOps(t: TensorSpec, format: 'legacy' | 'zip' = 'legacy'): number[] {
  return [
    ...op.global('torch._utils', '_rebuild_tensor_v2'),
    op.mark,
    op.mark,
    ...op.str('storage'),
    ...op.global('torch', t.storage.type),
    ...op.str(t.storage.key),
    ...op.str('cpu'),
    ...op.int(t.storage.numel),
    ...(format === 'legacy' ? [op.none] : []),
    op.tuple,
    op.binpersid,
    ...op.int(t.offset),
    ...op.intTuple(t.shape),
    ...op.intTuple(t.stride),
    op.newfalse,
    ...op.global('collections', 'OrderedDict'),
    op.emptyTuple,
    op.reduce,
    op.tuple,
    op.reduce,
  ];
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
function legacyHeader(): number[] {
  const magic: number[] = [];
  for (let i = 0n; i < 10n; i++) magic.push(Number((LEGACY_MAGIC >> (8n * i)) & 0xffn));
  return [
    ...op.proto, 0x8a, 10, ...magic, op.stop,
    ...op.proto, 0x4d, 0xe9, 0x03, op.stop,
    ...op.proto, op.emptyDict, op.mark, ...op.str('little_endian'), 0x88, op.setitems, op.stop,
  ];
}

/** A legacy-format file holding `{name: tensor}`, with each storage's bytes after the pickles. */
function legacyFile(tensors: Record<string, TensorSpec>, storages: StorageSpec[] = []): Uint8Array {
  const used = new Map<string, StorageSpec>();
  for (const t of Object.values(tensors)) used.set(t.storage.key, t.storage);
  for (const s of storages) used.set(s.key, s);
  const main = [op.proto, op.emptyDict, op.mark];
  for (const [name, t] of Object.entries(tensors)) main.push(op.str(name), tensorOps(t));
  main.push(op.setitems, op.stop);
  const keys = [op.proto, op.emptyList, op.mark, ...[...used.keys()].map(op.str), op.appends, op.stop];
  const data: Part[] = [];
  for (const s of used.values()) {
    const count = s.data.length / ({ FloatStorage: 4, DoubleStorage: 8, LongStorage: 8, HalfStorage: 2, BFloat16Storage: 2 } as Record<string, number>)[s.type];
    data.push(le32(count), le32(0), s.data);
  }
  return bytesOf(legacyHeader(), ...main, ...keys, ...data);
}

function floats(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function storageOf(type: string, data: Uint8Array, bytesPerItem: number, key = 'k0'): StorageSpec {
  return { key, type, numel: data.length / bytesPerItem, data };
}

function expectPickleError(bytes: Uint8Array, opcode: string, text: RegExp): void {
  let caught: unknown;
  try {
    unpickle(bytes, { file: 'hand.pkl' });
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(PickleError);
  const err = caught as PickleError;
  expect(err.opcode).toBe(opcode);
  expect(err.message).toMatch(/^hand\.pkl: /);
  expect(err.message).toContain(`${opcode} at offset ${err.offset}`);
  expect(err.message).toMatch(text);
}

// --- the reference checkpoints ---------------------------------------------------

describe.skipIf(!haveReference)('reference checkpoints', () => {
  const loaded = new Map<string, { zip: PickleValue; legacy: PickleValue }>();
  const get = async (folder: string) => {
    let entry = loaded.get(folder);
    if (!entry) {
      entry = {
        zip: await loadTorchCheckpoint(`${REFERENCE}${folder}/checkpoint.zip.pth`),
        legacy: await loadTorchCheckpoint(`${REFERENCE}${folder}/checkpoint.legacy.pth`),
      };
      loaded.set(folder, entry);
    }
    return entry;
  };

  for (const folder of FOLDERS) {
    describe(folder, () => {
      const expectedShapes = JSON.parse(readFileSync(`${REFERENCE}${folder}/state_dict_shapes.json`, 'utf8')) as Record<
        string,
        number[]
      >;
      const config = JSON.parse(readFileSync(`${REFERENCE}${folder}/config.json`, 'utf8')) as {
        layer_count: number;
        latent: number;
      };

      it('state_dict_shapes.json is a flat map of <model>.<key> to shape', () => {
        expect(Object.keys(expectedShapes).length).toBeGreaterThan(100);
        for (const [name, shape] of Object.entries(expectedShapes)) {
          expect(name).toMatch(/^[a-z_]+\..+/);
          expect(Array.isArray(shape) && shape.every((d) => Number.isInteger(d))).toBe(true);
        }
      });

      for (const format of ['zip', 'legacy'] as const) {
        it(`${format}: every model key and shape matches state_dict_shapes.json`, async () => {
          const flat = flattenStateDicts((await get(folder))[format]);
          expect([...flat.keys()].sort()).toEqual(Object.keys(expectedShapes).sort());
          for (const [name, tensor] of flat) {
            expect(tensor.shape, name).toEqual(expectedShapes[name]);
            expect(tensor.dtype).toBe('float32');
            expect(tensorToFloat32(tensor).length).toBe(tensor.numel);
          }
        });

        it(`${format}: optimizer state lines up with the parameters`, async () => {
          const root = (await get(folder))[format];
          const models = pickleGet(root, 'models') as PickleDict;
          const groups = { encoder_optimizer: ['discriminator', 'mapping_tl'], decoder_optimizer: ['generator', 'mapping_fl'] };
          for (const [optimizer, modelNames] of Object.entries(groups)) {
            const state = pickleGet(root, 'auxiliary', optimizer, 'state');
            expect(state).toBeInstanceOf(PickleDict);
            // Parameters in state-dict order; blur kernels are buffers, not parameters.
            const params: number[][] = [];
            for (const model of modelNames) {
              for (const [key, value] of models.get(model) as PickleDict) {
                if (!String(key).endsWith('blur.weight')) params.push((value as TorchTensor).shape);
              }
            }
            const allShapes = params.map((s) => JSON.stringify(s));
            expect((state as PickleDict).size).toBeGreaterThan(0);
            for (const [index, entry] of state as PickleDict) {
              expect(typeof index).toBe('number');
              expect(scalarToNumber(pickleGet(entry, 'step'))).toBe(1);
              const expAvgSq = pickleGet(entry, 'exp_avg_sq');
              expect(expAvgSq).toBeInstanceOf(TorchTensor);
              const shape = (expAvgSq as TorchTensor).shape;
              expect(allShapes).toContain(JSON.stringify(shape));
              expect(shape).toEqual(params[index as number]);
              expect(tensorToFloat32(expAvgSq as TorchTensor).every((v) => v >= 0)).toBe(true);
            }
            const groupsValue = pickleGet(root, 'auxiliary', optimizer, 'param_groups') as PickleDict[];
            expect(groupsValue.flatMap((g) => g.get('params') as number[]).length).toBe(params.length);
          }
        });

        it(`${format}: dlatent_avg.buff is [2*layer_count, latent]`, async () => {
          const flat = flattenStateDicts((await get(folder))[format]);
          expect(flat.get('dlatent_avg.buff')?.shape).toEqual([2 * config.layer_count, config.latent]);
        });
      }

      it('zip and legacy hold bit-identical tensors, auxiliary included', async () => {
        const { zip, legacy } = await get(folder);
        const a = flattenStateDicts(zip);
        const b = flattenStateDicts(legacy);
        for (const [name, tensor] of a) {
          const x = tensorToFloat32(tensor);
          const y = tensorToFloat32(b.get(name) as TorchTensor);
          expect(Buffer.from(x.buffer).equals(Buffer.from(y.buffer)), name).toBe(true);
        }
        for (const optimizer of ['encoder_optimizer', 'decoder_optimizer']) {
          const sa = pickleGet(zip, 'auxiliary', optimizer, 'state') as PickleDict;
          const sb = pickleGet(legacy, 'auxiliary', optimizer, 'state') as PickleDict;
          expect([...sa.keys()]).toEqual([...sb.keys()]);
          for (const key of sa.keys()) {
            const x = tensorToFloat32(pickleGet(sa, key, 'exp_avg_sq') as TorchTensor);
            const y = tensorToFloat32(pickleGet(sb, key, 'exp_avg_sq') as TorchTensor);
            expect(Buffer.from(x.buffer).equals(Buffer.from(y.buffer))).toBe(true);
          }
        }
      });
    });
  }

  it('auxiliary also carries scheduler and tracker state, and reads as plain values', async () => {
    const { zip } = await get('tiny32');
    const aux = pickleGet(zip, 'auxiliary') as PickleDict;
    expect([...aux.keys()].sort()).toEqual(['decoder_optimizer', 'encoder_optimizer', 'scheduler', 'tracker']);
    expect(pickleGet(aux, 'scheduler', 'encoder_optimizer', 'last_epoch')).toBe(3);
    expect(pickleGet(aux, 'tracker', 'means_over_epochs', 'loss_d')).toEqual([0.5, 0.4]);
    expect(pickleGet(aux, 'encoder_optimizer', 'param_groups', 0, 'lr')).toBe(0.0015);
    // State dicts are OrderedDicts whose `_metadata` arrives by BUILD, kept apart from the items.
    const discriminator = pickleGet(zip, 'models', 'discriminator') as PickleDict;
    expect(discriminator.pyClass).toBe('collections.OrderedDict');
    expect(pickleGet(discriminator.state, '_metadata')).toBeInstanceOf(PickleDict);
  });

  it('names the file when it cannot be read', async () => {
    await expect(loadTorchCheckpoint(`${REFERENCE}missing.pth`)).rejects.toThrow(/missing\.pth: cannot read/);
  });
});

// --- tensors from hand-built files -------------------------------------------------

describe('tensor layouts', () => {
  const six = storageOf('FloatStorage', floats([0, 1, 2, 3, 4, 5]), 4);

  it('reads a transposed (non-contiguous) tensor in row-major order', () => {
    const file = legacyFile({ t: { storage: six, offset: 0, shape: [3, 2], stride: [1, 3] } });
    const t = pickleGet(readTorchCheckpoint(file, 'hand.pth'), 't') as TorchTensor;
    expect(t).toBeInstanceOf(TorchTensor);
    expect(t.shape).toEqual([3, 2]);
    expect(t.stride).toEqual([1, 3]);
    expect([...tensorToFloat32(t)]).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it('handles offsets, zero strides and 0-d tensors', () => {
    const file = legacyFile({
      broadcast: { storage: six, offset: 3, shape: [2, 3], stride: [0, 1] },
      column: { storage: six, offset: 1, shape: [3, 1], stride: [2, 7] },
      scalar: { storage: six, offset: 5, shape: [], stride: [] },
      empty: { storage: six, offset: 6, shape: [0, 4], stride: [4, 1] },
    });
    const root = readTorchCheckpoint(file, 'hand.pth');
    expect([...tensorToFloat32(pickleGet(root, 'broadcast') as TorchTensor)]).toEqual([3, 4, 5, 3, 4, 5]);
    expect([...tensorToFloat32(pickleGet(root, 'column') as TorchTensor)]).toEqual([1, 3, 5]);
    expect([...tensorToFloat32(pickleGet(root, 'scalar') as TorchTensor)]).toEqual([5]);
    expect(scalarToNumber(pickleGet(root, 'scalar'))).toBe(5);
    expect(tensorToFloat32(pickleGet(root, 'empty') as TorchTensor).length).toBe(0);
  });

  it('converts float64, float16, bfloat16 and int64 storages', () => {
    const f64 = new Uint8Array(Float64Array.from([1.5, -2.25, 1e-3]).buffer);
    const f16 = new Uint8Array(Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00]).buffer); // 1, -2, 65504, 2^-24, inf
    const bf16 = new Uint8Array(Uint16Array.from([0x3f80, 0xc0a0, 0x0000]).buffer); // 1, -5, 0
    const i64 = new Uint8Array(BigInt64Array.from([3n, -7n, 2n ** 40n]).buffer);
    const file = legacyFile({
      f64: { storage: storageOf('DoubleStorage', f64, 8, 'a'), offset: 0, shape: [3], stride: [1] },
      f16: { storage: storageOf('HalfStorage', f16, 2, 'b'), offset: 0, shape: [5], stride: [1] },
      bf16: { storage: storageOf('BFloat16Storage', bf16, 2, 'c'), offset: 0, shape: [3], stride: [1] },
      i64: { storage: storageOf('LongStorage', i64, 8, 'd'), offset: 0, shape: [3], stride: [1] },
      step: { storage: storageOf('LongStorage', i64, 8, 'd'), offset: 2, shape: [], stride: [] },
    });
    const root = readTorchCheckpoint(file, 'hand.pth');
    const f = (name: string) => [...tensorToFloat32(pickleGet(root, name) as TorchTensor)];
    expect(f('f64')).toEqual([1.5, -2.25, Math.fround(1e-3)]);
    expect(f('f16')).toEqual([1, -2, 65504, 2 ** -24, Infinity]);
    expect(f('bf16')).toEqual([1, -5, 0]);
    expect(f('i64')).toEqual([3, -7, 2 ** 40]);
    expect([...tensorToBigInt64(pickleGet(root, 'i64') as TorchTensor)]).toEqual([3n, -7n, 2n ** 40n]);
    expect(scalarToNumber(pickleGet(root, 'step'))).toBe(2 ** 40);
    expect(() => tensorToBigInt64(pickleGet(root, 'f64') as TorchTensor)).toThrow(CheckpointError);
    expect((pickleGet(root, 'i64') as TorchTensor).storage).toBe((pickleGet(root, 'step') as TorchTensor).storage);
  });

  it('refuses a layout that reaches past its storage, naming the file', () => {
    const file = legacyFile({ t: { storage: six, offset: 1, shape: [2, 3], stride: [3, 1] } });
    expect(() => readTorchCheckpoint(file, 'hand.pth')).toThrow(/^hand\.pth: .*reaches element 6 of a 6-element storage/);
  });

  it('refuses a tensor whose zero strides describe more elements than the file could hold', () => {
    const file = legacyFile({ t: { storage: six, offset: 0, shape: [100_000, 100_000], stride: [0, 0] } });
    const t = pickleGet(readTorchCheckpoint(file, 'hand.pth'), 't') as TorchTensor;
    expect(() => tensorToFloat32(t)).toThrow(/hand\.pth: .*too large/);
  });

  it('reads the zip format, stored or deflated, with ZIP64 directory fields', () => {
    const pkl = bytesOf(
      op.proto, op.emptyDict, op.mark, op.str('w'),
      tensorOps({ storage: { key: '0', type: 'FloatStorage', numel: 6, data: new Uint8Array() }, offset: 0, shape: [2, 3], stride: [1, 2] }, 'zip'),
      op.setitems, op.stop,
    );
    const data = floats([0, 1, 2, 3, 4, 5]);
    for (const [deflate, zip64] of [[false, false], [true, false], [true, true], [false, true]]) {
      const file = makeZip(
        [
          { name: 'archive/data.pkl', data: pkl, deflate },
          { name: 'archive/data/0', data, deflate },
          { name: 'archive/version', data: Uint8Array.of(0x33, 0x0a) },
        ],
        zip64,
      );
      const t = pickleGet(readTorchCheckpoint(file, 'made.zip'), 'w') as TorchTensor;
      expect([...tensorToFloat32(t)]).toEqual([0, 2, 4, 1, 3, 5]);
    }
  });

  it('returns stored zip entries as views into the file', () => {
    const file = makeZip([{ name: 'a/data/0', data: floats([1, 2]) }]);
    const entry = new ZipArchive(file, 'made.zip').read('a/data/0');
    expect(entry.buffer).toBe(file.buffer);
  });

  it('refuses a ZIP64 entry that claims 4 GiB without inflating it', () => {
    const file = makeZip([{ name: 'a/data.pkl', data: new Uint8Array(1000), deflate: true, claimSize: 2 ** 32 }], true);
    const zip = new ZipArchive(file, 'bomb.zip');
    expect(zip.entries[0].uncompressedSize).toBe(2 ** 32);
    expect(() => zip.read('a/data.pkl')).toThrow(ZipError);
    expect(() => zip.read('a/data.pkl')).toThrow(/bomb\.zip: .*claims 4294967296 uncompressed bytes/);
  });

  it('refuses a deflated entry whose real size differs from the declared one', () => {
    // Incompressible bytes, so the archive is big enough for the claim to pass the size budget.
    const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 2654435761) >>> 24);
    const small = makeZip([{ name: 'a/x', data, deflate: true, claimSize: 4000 }]);
    expect(() => new ZipArchive(small, 'lie.zip').read('a/x')).toThrow(/lie\.zip: entry "a\/x" does not inflate/);
    const large = makeZip([{ name: 'a/x', data, deflate: true, claimSize: 6000 }]);
    expect(() => new ZipArchive(large, 'lie.zip').read('a/x')).toThrow(/lie\.zip: .*inflates to 5000 bytes, not the declared 6000/);
  });
});

// --- the unpickler itself ------------------------------------------------------------

/**
 * pickle.dumps of one object at protocols 0, 2 and 4 (CPython 3):
 * {'a': [1, -2, 3.5, None, True, False], 'b': (1,), 'c': (1, 2), 'd': (1, 2, 3), 'e': (1, 2, 3, 4),
 *  'big': 2**70, 'neg': -2**63, 'bytes': b'\x00\xffab', 's': 'héllo ☃', 'od': OrderedDict(x=1),
 *  'set': {1}, 'fs': frozenset({2}), 'shared': [L, L] with L = [7], 'nested': {'k': {3: 'v'}}}
 */
const SAMPLE = {
  0: '286470300a56610a70310a286c70320a49310a61492d320a6146332e350a614e614930310a614930300a617356620a70330a2849310a7470340a7356630a70350a2849310a49320a7470360a7356640a70370a2849310a49320a49330a7470380a7356650a70390a2849310a49320a49330a49340a747031300a73566269670a7031310a4c313138303539313632303731373431313330333432344c0a73566e65670a7031320a4c2d393232333337323033363835343737353830384c0a735662797465730a7031330a635f636f646563730a656e636f64650a7031340a28565c7530303030ff61620a7031350a566c6174696e310a7031360a747031370a527031380a7356730a7031390a5668e96c6c6f205c75323630330a7032300a73566f640a7032310a63636f6c6c656374696f6e730a4f726465726564446963740a7032320a2874527032330a56780a7032340a49310a7373567365740a7032350a635f5f6275696c74696e5f5f0a7365740a7032360a28286c7032370a49310a61747032380a527032390a735666730a7033300a635f5f6275696c74696e5f5f0a66726f7a656e7365740a7033310a28286c7033320a49320a61747033330a527033340a73567368617265640a7033350a286c7033360a286c7033370a49370a61616733370a6173566e65737465640a7033380a28647033390a566b0a7034300a28647034310a49330a56760a7034320a7373732e',
  2: '80027d71002858010000006171015d7102284b014afeffffff47400c0000000000004e88896558010000006271034b0185710458010000006371054b014b0286710658010000006471074b014b024b038771085801000000657109284b014b024b034b0474710a5803000000626967710b8a0900000000000000004058030000006e6567710c8a08000000000000008058050000006279746573710d635f636f646563730a656e636f64650a710e580500000000c3bf6162710f58060000006c6174696e3171108671115271125801000000737113580a00000068c3a96c6c6f20e29883711458020000006f64711563636f6c6c656374696f6e730a4f726465726564446963740a71162952711758010000007871184b017358030000007365747119635f5f6275696c74696e5f5f0a7365740a711a5d711b4b016185711c52711d58020000006673711e635f5f6275696c74696e5f5f0a66726f7a656e7365740a711f5d71204b0261857121527122580600000073686172656471235d7124285d71254b076168256558060000006e657374656471267d712758010000006b71287d71294b03580100000076712a7373752e',
  4: '800495fe000000000000007d94288c0161945d94284b014afeffffff47400c0000000000004e8889658c0162944b0185948c0163944b014b0286948c0164944b014b024b0387948c016594284b014b024b034b0474948c03626967948a090000000000000000408c036e6567948a0800000000000000808c05627974657394430400ff6162948c0173948c0a68c3a96c6c6f20e29883948c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c0178944b01738c03736574948f94284b01908c02667394284b0291948c06736861726564945d94285d944b0761681d658c066e6573746564947d948c016b947d944b038c0176947373752e',
} as const;

const hex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));

describe('unpickle', () => {
  for (const protocol of [0, 2, 4] as const) {
    it(`reads protocol ${protocol} containers, numbers, strings and bytes`, () => {
      const bytes = hex(SAMPLE[protocol]);
      const { value, end } = unpickle(bytes);
      expect(end).toBe(bytes.length);
      expect(value).toBeInstanceOf(PickleDict);
      const get = (...path: (string | number)[]) => pickleGet(value, ...path);
      expect(get('a')).toEqual([1, -2, 3.5, null, true, false]);
      expect((get('b') as PickleTuple).items).toEqual([1]);
      expect((get('c') as PickleTuple).items).toEqual([1, 2]);
      expect((get('d') as PickleTuple).items).toEqual([1, 2, 3]);
      expect((get('e') as PickleTuple).items).toEqual([1, 2, 3, 4]);
      expect(get('big')).toBe(2n ** 70n);
      expect(get('neg')).toBe(-(2n ** 63n));
      expect([...(get('bytes') as Uint8Array)]).toEqual([0, 255, 0x61, 0x62]);
      expect(get('s')).toBe('héllo ☃');
      const od = get('od') as PickleDict;
      expect(od.pyClass).toBe('collections.OrderedDict');
      expect([...od]).toEqual([['x', 1]]);
      expect(get('set')).toEqual(new PickleSet(false, [1]));
      expect(get('fs')).toEqual(new PickleSet(true, [2]));
      const shared = get('shared') as PickleValue[];
      expect(shared[0]).toBe(shared[1]);
      expect(get('nested', 'k', 3)).toBe('v');
    });
  }

  it('reads protocol 5 BYTEARRAY8 inside a FRAME', () => {
    expect([...(unpickle(hex('8005950e0000000000000096030000000000000078797a942e')).value as Uint8Array)]).toEqual([
      0x78, 0x79, 0x7a,
    ]);
  });

  it('turns a non-whitelisted call (os.system) into an opaque value and runs nothing', () => {
    // cos\nsystem\n(X"touch ..."tR then BUILD with a dict: protocol 2, hand-written.
    const bytes = bytesOf(op.proto, op.global('os', 'system'), op.mark, op.str('touch /tmp/alae-pickle-must-not-run'), op.tuple, op.reduce,
      op.emptyDict, op.str('x'), op.int(1), 0x73, 0x62, op.stop);
    const value = unpickle(bytes).value;
    expect(value).toBeInstanceOf(PickleOpaque);
    const opaque = value as PickleOpaque;
    expect([opaque.module, opaque.name]).toEqual(['os', 'system']);
    expect(opaque.args.items).toEqual(['touch /tmp/alae-pickle-must-not-run']);
    expect(pickleGet(opaque.state, 'x')).toBe(1);
    expect(existsSync('/tmp/alae-pickle-must-not-run')).toBe(false);
  });

  it('keeps a bare GLOBAL as a reference and STACK_GLOBAL alike (protocol 4)', () => {
    const p4 = bytesOf(0x80, 4, 0x8c, 8, ...utf8('builtins'), 0x8c, 4, ...utf8('eval'), 0x93, op.stop);
    expect(unpickle(p4).value).toEqual(new PickleGlobal('builtins', 'eval'));
    // NEWOBJ of an unknown class is opaque too; of OrderedDict, an empty dict.
    const newobj = bytesOf(op.proto, op.global('subprocess', 'Popen'), op.emptyTuple, 0x81, op.stop);
    expect(unpickle(newobj).value).toBeInstanceOf(PickleOpaque);
    const od = bytesOf(op.proto, op.global('collections', 'OrderedDict'), op.emptyTuple, 0x81, op.stop);
    expect(unpickle(od).value).toEqual(new PickleDict('collections.OrderedDict'));
  });

  it('reads LONG1 / LONG4 / BININT edge values', () => {
    const long1 = (...b: number[]) => unpickle(bytesOf(op.proto, 0x8a, b.length, ...b, op.stop)).value;
    expect(long1()).toBe(0);
    expect(long1(0xff)).toBe(-1);
    expect(long1(0x00, 0x80)).toBe(-32768);
    expect(long1(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f)).toBe(2 ** 53 - 1);
    expect(long1(0, 0, 0, 0, 0, 0, 0x20)).toBe(2n ** 53n);
    expect(unpickle(bytesOf(op.proto, 0x8b, le32(2), 0x01, 0x01, op.stop)).value).toBe(257);
    expect(unpickle(bytesOf(op.proto, op.int(-5), op.stop)).value).toBe(-5);
  });

  it('reports malformed pickles with the opcode and offset', () => {
    expectPickleError(bytesOf(op.proto, 0x30, op.stop), 'POP', /no MARK/);
    expectPickleError(bytesOf(op.proto, op.mark, 0x85, op.stop), 'TUPLE1', /stack underflow/);
    expectPickleError(bytesOf(op.proto, op.int(1), op.tuple, op.stop), 'TUPLE', /no MARK/);
    expectPickleError(bytesOf(op.proto, 0xff), '0xff', /unknown opcode 0xff/);
    expectPickleError(bytesOf(op.proto, 0x58, 10, 0, 0, 0, 0x61), 'BINUNICODE', /length 10 exceeds/);
    expectPickleError(bytesOf(op.proto, op.none), 'EOF', /without STOP/);
    expectPickleError(bytesOf(op.proto, op.global('os', 'system'), op.int(1), op.reduce, op.stop), 'REDUCE', /must be a tuple/);
    expectPickleError(bytesOf(op.proto, 0x68, 9, op.stop), 'BINGET', /memo has no entry 9/);
    expectPickleError(bytesOf(op.proto, op.emptyDict, op.emptyList, op.int(1), 0x73, op.stop), 'SETITEM', /unsupported dict key of type list/);
    expectPickleError(bytesOf(op.proto, op.emptyTuple, op.int(1), 0x62, op.stop), 'BUILD', /cannot BUILD a tuple/);
    expectPickleError(bytesOf(0x80, 9), 'PROTO', /unsupported protocol 9/);
    expectPickleError(
      bytesOf(op.proto, op.global('collections', 'OrderedDict'), op.mark, op.int(3), op.tuple, op.reduce, op.stop),
      'REDUCE',
      /needs an iterable/,
    );
  });

  it('refuses a BINBYTES claiming 2^31 bytes without allocating them', () => {
    expectPickleError(bytesOf(0x80, 3, 0x42, le32(2 ** 31), 1, 2, 3), 'BINBYTES', /length 2147483648 exceeds the 3 bytes left/);
    expectPickleError(bytesOf(0x80, 4, 0x8e, le32(0), le32(0x100), op.stop), 'BINBYTES8', /exceeds/);
  });

  it('keeps repeated references to one big list shared, not copied', () => {
    // L = [None] * 1000; then DUP it 1000 times into a list: 1000 references, not 10^6 items.
    const body: number[] = [...op.proto, op.emptyList, 0x71, 0, op.mark, ...new Array(1000).fill(op.none), op.appends, op.emptyList, op.mark];
    for (let i = 0; i < 1000; i++) body.push(0x68, 0);
    body.push(op.appends, op.stop);
    const outer = unpickle(bytesOf(body)).value as PickleValue[][];
    expect(outer.length).toBe(1000);
    expect(outer[0]).toBe(outer[999]);
  });

  it('stops reducers from copying a shared list over and over', () => {
    // set(L) for a 2000-element L, 2000 times: quadratic work for a 10 kB pickle.
    const body: number[] = [...op.proto, op.emptyList, 0x71, 0, op.mark, ...new Array(2000).fill(op.none), op.appends, 0x30];
    for (let i = 0; i < 2000; i++) body.push(...op.global('builtins', 'set'), 0x68, 0, 0x85, op.reduce, 0x30);
    body.push(op.none, op.stop);
    expectPickleError(bytesOf(body), 'REDUCE', /more work than its size allows/);
  });

  it('bounds MARK nesting', () => {
    expectPickleError(bytesOf(op.proto, new Array(10_001).fill(op.mark)), 'MARK', /nested MARKs/);
  });

  it('errors are AlaeErrors naming the file', () => {
    try {
      readTorchCheckpoint(Uint8Array.of(1, 2, 3), 'junk.bin');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AlaeError);
      expect((err as Error).message).toBe('junk.bin: not a PyTorch checkpoint (neither a zip archive nor a pickle)');
    }
  });
});
