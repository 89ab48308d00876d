/**
 * `torch.save` for tests: writes a value as pth.ts reads it (dicts,
 * OrderedDicts, lists, tuples, numbers, strings, tensors) back in either
 * format, so the suite can build checkpoint variants from the shared
 * reference files. Protocol-2 pickles, as torch writes them; every storage
 * is written whole under a fresh key (views of a legacy root become roots).
 * Files it writes load in PyTorch's own torch.load (checked with
 * python3-torch 1.13 when it was written).
 */
import { deflateRawSync } from 'node:zlib';
import { PickleDict, PickleTuple, pyTypeName, type PickleKey, type PickleValue } from '../../src/io/pickle.js';
import { TorchStorage, TorchTensor, type TorchDtype } from '../../src/io/pth.js';
import { crc32 } from '../../src/io/zip.js';
import { concatBytes } from '../concat-bytes.js';

const STORAGE_CLASS: Partial<Record<TorchDtype, string>> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];
const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

/** Little-endian two's complement bytes of `n`, as few as hold it (LONG1's argument). */
function longBytes(n: bigint): number[] {
  const out: number[] = [];
  let v = n;
  for (;;) {
    const byte = Number(v & 0xffn);
    out.push(byte);
    v >>= 8n;
    if ((v === 0n && !(byte & 0x80)) || (v === -1n && byte & 0x80)) return out;
  }
}

class Pickler {
  readonly out: number[] = [];
  /** Storages in the order first met, with the keys they are written under. */
  readonly storages = new Map<TorchStorage, string>();

  constructor(private readonly format: 'zip' | 'legacy') {}

  pickle(value: PickleValue): Uint8Array {
    this.out.length = 0;
    this.out.push(0x80, 2);
    this.value(value);
    this.out.push(0x2e); // STOP
    return Uint8Array.from(this.out);
  }

  private global(module: string, name: string): void {
    this.out.push(0x63, ...utf8(`${module}\n${name}\n`));
  }

  private int(n: number | bigint): void {
    if (typeof n === 'number' && n >= 0 && n < 256) this.out.push(0x4b, n);
    else if (typeof n === 'number' && n >= -(2 ** 31) && n < 2 ** 31) this.out.push(0x4a, ...le32(n));
    else {
      const bytes = longBytes(BigInt(n));
      this.out.push(0x8a, bytes.length, ...bytes);
    }
  }

  private value(v: PickleValue | undefined): void {
    const o = this.out;
    if (v === null) o.push(0x4e);
    else if (v === true) o.push(0x88);
    else if (v === false) o.push(0x89);
    else if (typeof v === 'bigint') this.int(v);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) this.int(v);
      else {
        const b = new DataView(new ArrayBuffer(8));
        b.setFloat64(0, v); // BINFLOAT is big-endian
        o.push(0x47, ...new Uint8Array(b.buffer));
      }
    } else if (typeof v === 'string') o.push(0x58, ...le32(utf8(v).length), ...utf8(v));
    else if (Array.isArray(v)) {
      o.push(0x5d); // EMPTY_LIST
      if (v.length) {
        o.push(0x28);
        for (const x of v) this.value(x);
        o.push(0x65); // APPENDS
      }
    } else if (v instanceof PickleTuple) {
      if (!v.items.length) o.push(0x29);
      else {
        o.push(0x28);
        for (const x of v.items) this.value(x);
        o.push(0x74);
      }
    } else if (v instanceof PickleDict) {
      if (v.pyClass === 'dict') o.push(0x7d);
      else {
        this.global('collections', 'OrderedDict');
        o.push(0x29, 0x52); // EMPTY_TUPLE, REDUCE
      }
      if (v.state !== undefined) {
        this.value(v.state);
        o.push(0x62); // BUILD
      }
      if (v.size) {
        o.push(0x28);
        for (const [k, x] of v) {
          this.value(k as PickleKey);
          this.value(x);
        }
        o.push(0x75); // SETITEMS
      }
    } else if (v instanceof TorchTensor) this.tensor(v);
    else throw new Error(`torchSave: cannot write a ${pyTypeName(v)}`);
  }

  /** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict()). */
  private tensor(t: TorchTensor): void {
    const cls = STORAGE_CLASS[t.dtype];
    if (!cls) throw new Error(`torchSave: no storage class for ${t.dtype}`);
    let key = this.storages.get(t.storage);
    if (key === undefined) {
      key = String(this.storages.size);
      this.storages.set(t.storage, key);
    }
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.out.push(0x28, 0x28);
    this.value('storage');
    this.global('torch', cls);
    this.value(key);
    this.value('cpu');
    this.int(t.storage.numel);
    if (this.format === 'legacy') this.out.push(0x4e); // no view
    this.out.push(0x74, 0x51); // TUPLE, BINPERSID
    this.int(t.offset);
    this.value(new PickleTuple(t.shape));
    this.value(new PickleTuple(t.stride));
    this.value(t.requiresGrad);
    this.global('collections', 'OrderedDict');
    this.out.push(0x29, 0x52, 0x74, 0x52); // EMPTY_TUPLE, REDUCE, TUPLE, REDUCE
  }
}

/** A ZIP with stored or deflated entries, optionally ZIP64-style sizes in the central directory, or a lie about a size. */
export function makeZip(entries: { name: string; data: Uint8Array; deflate?: boolean; claimSize?: number }[], zip64 = false): Uint8Array {
  const parts: (Uint8Array | number[])[] = [];
  const central: number[][] = [];
  let offset = 0;
  for (const e of entries) {
    const body = e.deflate ? new Uint8Array(deflateRawSync(e.data)) : e.data;
    const name = utf8(e.name);
    const local = [...le32(0x04034b50), 20, 0, 0, 0, e.deflate ? 8 : 0, 0, 0, 0, 0, 0, ...le32(crc32(e.data)),
      ...le32(body.length), ...le32(e.data.length), name.length, 0, 0, 0, ...name];
    parts.push(local, body);
    const size = e.claimSize ?? e.data.length;
    const extra = zip64 ? [1, 0, 16, 0, ...le32(size % 2 ** 32), ...le32(Math.floor(size / 2 ** 32)), ...le32(body.length), 0, 0, 0, 0] : [];
    central.push([...le32(0x02014b50), 20, 0, 20, 0, 0, 0, e.deflate ? 8 : 0, 0, 0, 0, 0, 0, ...le32(crc32(e.data)),
      ...le32(zip64 ? 0xffffffff : body.length), ...le32(zip64 ? 0xffffffff : size), name.length, 0, extra.length, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...le32(offset), ...name, ...extra]);
    offset += local.length + body.length;
  }
  const cd = central.flat();
  const count = [entries.length & 0xff, entries.length >> 8];
  const eocd = [...le32(0x06054b50), 0, 0, 0, 0, ...count, ...count, ...le32(cd.length), ...le32(offset), 0, 0];
  return concatBytes([...parts, cd, eocd]);
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** The bytes torch.save(value) would write: the zip format (PyTorch >= 1.6) or the legacy stream. */
export function torchSave(value: PickleValue, format: 'zip' | 'legacy'): Uint8Array {
  const p = new Pickler(format);
  const main = p.pickle(value);
  const storages = [...p.storages].map(([s, key]) => ({ key, bytes: s.bytes, numel: s.numel }));
  if (format === 'zip') {
    return makeZip([
      { name: 'archive/data.pkl', data: main },
      { name: 'archive/byteorder', data: Uint8Array.from(utf8('little')) },
      ...storages.map((s) => ({ name: `archive/data/${s.key}`, data: s.bytes })),
      { name: 'archive/version', data: Uint8Array.from(utf8('3\n')) },
    ]);
  }
  const sysInfo = new PickleDict();
  sysInfo.set('protocol_version', 1001);
  sysInfo.set('little_endian', true);
  const sizes = new PickleDict();
  for (const [k, n] of [['short', 2], ['int', 4], ['long', 4]] as const) sizes.set(k, n);
  sysInfo.set('type_sizes', sizes);
  const header = [p.pickle(LEGACY_MAGIC), p.pickle(1001), p.pickle(sysInfo)];
  const data = storages.flatMap((s) => [[...le32(s.numel), ...le32(0)], s.bytes]);
  return concatBytes([...header, main, p.pickle(storages.map((s) => s.key)), ...data]);
}
