/**
 * Reads PyTorch checkpoints (`torch.save` output) without running Python and
 * without trusting the file.
 *
 * Two formats exist: the zip archive written since PyTorch 1.6
 * (`<archive>/data.pkl` plus one entry per storage under `<archive>/data/`)
 * and the legacy stream (magic, protocol version and sys-info pickles, the
 * main pickle, a pickled list of storage keys, then each storage's
 * little-endian int64 element count and raw bytes). Both come back as the
 * pickled object (see pickle.ts for how Python values map to JS), with
 * tensors as `TorchTensor` values whose storages point into the file's
 * bytes and are only checked and copied when converted.
 * `readTorchCheckpointHeader` reads the same object without the storages'
 * bytes (a zip's directory and data.pkl, a legacy file's leading pickles):
 * shapes and dtypes, for describing a file without loading it.
 *
 * Everything a file states (sizes, offsets, shapes, strides) is checked
 * before use; any problem ends in an `AlaeError` that names the file
 * (`CheckpointError` here, `ZipError`/`PickleError` from the layers below).
 */
import { readFile } from 'node:fs/promises';
import { AlaeError } from '../errors.js';
import { type ByteSource, FileSource, memorySource } from './byte-source.js';
import {
  PickleDict,
  PickleError,
  PickleExtension,
  PickleGlobal,
  PickleOpaque,
  PickleTuple,
  PickleValueError,
  pickleGet,
  pyTypeName,
  unpickle,
  type PickleKey,
  type PickleValue,
  type ReduceContext,
  type Reducer,
} from './pickle.js';
import { LITTLE_ENDIAN_HOST, numberReader, type NumberType } from './numbers.js';
import { forEachStrided } from './strided.js';
import { ZipArchive, looksLikeZip } from './zip.js';

export class CheckpointError extends AlaeError {
  constructor(message: string, file?: string, cause?: unknown) {
    super(message, file);
    this.name = 'CheckpointError';
    if (cause !== undefined) this.cause = cause;
  }
}

export type TorchDtype =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

/** How each dtype stores its elements. */
const TORCH_TYPES: Readonly<Record<TorchDtype, NumberType>> = {
  float32: { kind: 'float', bytes: 4 },
  float64: { kind: 'float', bytes: 8 },
  float16: { kind: 'float', bytes: 2 },
  bfloat16: { kind: 'bfloat', bytes: 2 },
  int64: { kind: 'int', bytes: 8 },
  int32: { kind: 'int', bytes: 4 },
  int16: { kind: 'int', bytes: 2 },
  int8: { kind: 'int', bytes: 1 },
  uint8: { kind: 'uint', bytes: 1 },
  bool: { kind: 'bool', bytes: 1 },
};


/**
 * Storage classes as pickles name them (`torch.FloatStorage`, ...). Those
 * with a null dtype are known only well enough to step over their bytes;
 * tensors on them come back as `PickleOpaque`.
 */
const STORAGE_TYPES: Readonly<Record<string, { dtype: TorchDtype | null; bytes: number }>> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
  // Untyped storages are pickled with their size in bytes.
  UntypedStorage: { dtype: 'uint8', bytes: 1 },
  ComplexFloatStorage: { dtype: null, bytes: 8 },
  ComplexDoubleStorage: { dtype: null, bytes: 16 },
  QInt8Storage: { dtype: null, bytes: 1 },
  QUInt8Storage: { dtype: null, bytes: 1 },
  QInt32Storage: { dtype: null, bytes: 4 },
  QUInt4x2Storage: { dtype: null, bytes: 1 },
  QUInt2x4Storage: { dtype: null, bytes: 1 },
};
const STORAGE_MODULES = new Set(['torch', 'torch.cuda', 'torch.storage']);

/** A typed run of elements in the file; its bytes are located lazily and checked on first use. */
export class TorchStorage extends PickleExtension {
  readonly kind = 'storage';
  private cached: Uint8Array | undefined;

  constructor(
    readonly dtype: TorchDtype,
    readonly numel: number,
    readonly key: string,
    readonly location: string,
    /** The checkpoint's name, for errors raised long after loading. */
    readonly file: string,
    /** The checkpoint's size in bytes: conversions never allocate more than a few times this. */
    readonly fileSize: number,
    private readonly load: () => Uint8Array,
  ) {
    super();
  }

  get itemBytes(): number {
    return TORCH_TYPES[this.dtype].bytes;
  }

  /** The storage's raw little-endian bytes, a view into the file (or inflated entry). */
  get bytes(): Uint8Array {
    if (!this.cached) {
      const bytes = guarded(this.file, this.load);
      const expected = this.numel * this.itemBytes;
      if (bytes.length !== expected) {
        throw new CheckpointError(
          `storage ${JSON.stringify(this.key)} holds ${bytes.length} bytes, not ${this.numel} x ${this.itemBytes}`,
          this.file,
        );
      }
      this.cached = bytes;
    }
    return this.cached;
  }
}

/** A strided view of a storage, as `torch._utils._rebuild_tensor_v2` describes it. No data is copied. */
export class TorchTensor extends PickleExtension {
  readonly kind = 'tensor';
  readonly dtype: TorchDtype;

  constructor(
    readonly storage: TorchStorage,
    /** Element offset into the storage. */
    readonly offset: number,
    readonly shape: number[],
    /** Per-dimension element strides (0 for broadcast dimensions). */
    readonly stride: number[],
    readonly requiresGrad = false,
  ) {
    super();
    this.dtype = storage.dtype;
  }

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

export interface ReadCheckpointOptions {
  /** Check zip entries' CRC-32 when their bytes are first used (default true; legacy files have no checksums). */
  verifyCrc?: boolean;
}

/** Which of the two formats `bytes` (the file's first bytes suffice) starts like; throws for anything else. */
function formatOf(bytes: Uint8Array, file: string): 'zip' | 'legacy' {
  if (looksLikeZip(bytes)) return 'zip';
  if (bytes.length > 0 && bytes[0] === 0x80) return 'legacy';
  if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    throw new CheckpointError('tar-format checkpoints (PyTorch < 0.4) are not supported', file);
  }
  throw new CheckpointError('not a PyTorch checkpoint (neither a zip archive nor a pickle)', file);
}

/** Parses either checkpoint format from memory; `file` names it in errors. */
export function readTorchCheckpoint(bytes: Uint8Array, file: string, options: ReadCheckpointOptions = {}): PickleValue {
  return guarded(file, () =>
    formatOf(bytes, file) === 'zip'
      ? readZipCheckpoint(memorySource(bytes), file, options, false)
      : readLegacyCheckpoint(bytes, file, bytes.length, false),
  );
}

export interface CheckpointHeader {
  /** The pickled object; its tensors' storages throw when their bytes are asked for. */
  value: PickleValue;
  format: 'zip' | 'legacy';
  /** Bytes read from the file, to show that the tensors' data was left alone. */
  bytesRead: number;
}

/** First read of a legacy file's pickles; grown fourfold while they run past it. */
const LEGACY_HEAD_BYTES = 64 * 1024;

/**
 * A checkpoint's pickled object without its tensors' data: for a zip, its
 * end record, directory and data.pkl; for a legacy file, the pickles in
 * front of the data (read in growing pieces until they parse).
 */
export async function readTorchCheckpointHeader(path: string): Promise<CheckpointHeader> {
  const source = FileSource.open(path, 'the checkpoint');
  try {
    return guarded(path, () => {
      const format = formatOf(source.read(0, Math.min(source.size, 262)), path);
      if (format === 'zip') return { value: readZipCheckpoint(source, path, {}, true), format, bytesRead: source.bytesRead };
      let head = new Uint8Array(0);
      for (;;) {
        const length = Math.min(source.size, Math.max(LEGACY_HEAD_BYTES, head.length * 4));
        const grown = new Uint8Array(length);
        grown.set(head);
        grown.set(source.read(head.length, length - head.length), head.length);
        head = grown;
        try {
          return { value: readLegacyCheckpoint(head, path, source.size, true), format, bytesRead: source.bytesRead };
        } catch (e) {
          // A pickle cut off where the read ended parses once more is read; with the whole file read, the error is the file's own.
          if (!(e instanceof PickleError) || head.length === source.size) throw e;
        }
      }
    });
  } finally {
    source.close();
  }
}

/** Reads and parses a checkpoint file. */
export async function loadTorchCheckpoint(path: string, options: ReadCheckpointOptions = {}): Promise<PickleValue> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new CheckpointError(`cannot read: ${(err as Error).message}`, path, err);
  }
  return readTorchCheckpoint(bytes, path, options);
}

/**
 * The tensors of several state dicts in one map: for the dict of models at
 * `prefixPath` (default `['models']`), `<model>.<key>` for every tensor.
 * Values that are not tensors (extra state, tensors of unsupported dtypes)
 * are left out; a loader that needs them reports them missing.
 */
export function flattenStateDicts(
  root: PickleValue,
  prefixPath: readonly PickleKey[] = ['models'],
  file?: string,
): Map<string, TorchTensor> {
  const models = pickleGet(root, ...prefixPath);
  const where = prefixPath.join('.');
  if (!(models instanceof PickleDict)) {
    throw new CheckpointError(`expected a dict of state dicts at '${where}', found ${pyTypeName(models)}`, file);
  }
  const out = new Map<string, TorchTensor>();
  for (const [name, stateDict] of models) {
    if (stateDict instanceof TorchTensor) {
      out.set(String(name), stateDict);
      continue;
    }
    if (!(stateDict instanceof PickleDict)) {
      throw new CheckpointError(`'${where}.${String(name)}' is a ${pyTypeName(stateDict)}, not a state dict`, file);
    }
    for (const [key, value] of stateDict) {
      if (value instanceof TorchTensor) out.set(`${String(name)}.${String(key)}`, value);
    }
  }
  return out;
}

/** Elements in row-major order as float32, whatever the strides and dtype (int64 rounds past 2^24). */
export function tensorToFloat32(t: TorchTensor): Float32Array {
  return guarded(t.storage.file, () => {
    const numel = checkedNumel(t);
    const bytes = t.storage.bytes;
    const out = new Float32Array(numel);
    if (numel === 0) return out;
    if (t.dtype === 'float32' && LITTLE_ENDIAN_HOST && isContiguous(t)) {
      // Copy bytewise: file offsets need not be multiples of 4. (Not bytes.slice(): on a Buffer that is a view.)
      new Uint8Array(out.buffer).set(bytes.subarray(t.offset * 4, (t.offset + numel) * 4));
      return out;
    }
    const read = numberReader(TORCH_TYPES[t.dtype], bytes);
    forEachElement(t, numel, (i, src) => {
      out[i] = read(src);
    });
    return out;
  });
}

/** Elements in row-major order as exact 64-bit integers; for integer and bool tensors only. */
export function tensorToBigInt64(t: TorchTensor): BigInt64Array {
  return guarded(t.storage.file, () => {
    if (!INTEGER_DTYPES.has(t.dtype)) {
      throw new CheckpointError(`a ${t.dtype} tensor has no exact integer values`, t.storage.file);
    }
    const numel = checkedNumel(t);
    const bytes = t.storage.bytes;
    const out = new BigInt64Array(numel);
    if (numel === 0) return out;
    if (t.dtype === 'int64') {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
      forEachElement(t, numel, (i, src) => {
        out[i] = view.getBigInt64(src * 8, true);
      });
    } else {
      const read = numberReader(TORCH_TYPES[t.dtype], bytes);
      forEachElement(t, numel, (i, src) => {
        out[i] = BigInt(read(src));
      });
    }
    return out;
  });
}

/**
 * A Python number or a one-element tensor as a JS number: optimizer `step`
 * is an int in older PyTorch, a float or a 0-d tensor in newer ones.
 */
export function scalarToNumber(value: PickleValue | undefined, file?: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') {
    if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
    throw new CheckpointError(`integer ${value} is too large for a JS number`, file);
  }
  if (value instanceof TorchTensor) {
    return guarded(value.storage.file, () => {
      if (checkedNumel(value) !== 1) {
        throw new CheckpointError(`expected a one-element tensor, got shape [${value.shape}]`, value.storage.file);
      }
      return numberReader(TORCH_TYPES[value.dtype], value.storage.bytes)(value.offset);
    });
  }
  throw new CheckpointError(`expected a number or a one-element tensor, got ${pyTypeName(value)}`, file);
}

// --- formats ------------------------------------------------------------------

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

/** A storage of a header-only read: located and sized, never read. */
function unread(key: string, file: string): () => Uint8Array {
  return () => {
    throw new CheckpointError(`storage ${JSON.stringify(key)} was not read (only the checkpoint's header was)`, file);
  };
}

function readZipCheckpoint(source: ByteSource, file: string, options: ReadCheckpointOptions, headerOnly: boolean): PickleValue {
  const zip = new ZipArchive(source, file, { verifyCrc: options.verifyCrc });
  // torch puts everything under one top folder, named after the file when it was saved.
  const pickles = zip.entries.filter((e) => /^[^/]*\/data\.pkl$/.test(e.name));
  if (pickles.length !== 1) {
    throw new CheckpointError(
      pickles.length === 0 ? 'zip archive has no <archive>/data.pkl' : 'zip archive has several data.pkl entries',
      file,
    );
  }
  const pkl = pickles[0];
  const prefix = pkl.name.slice(0, -'data.pkl'.length);
  const byteorder = zip.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(zip.read(byteorder)).trim();
    if (order !== 'little') throw new CheckpointError(`unsupported byte order ${JSON.stringify(order)}`, file);
  }

  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PickleValue): PickleValue => {
    const items = storageId(pid, 5);
    const type = storageType(items[1]);
    const key = stringField(items[2], 'storage key');
    const location = stringField(items[3], 'storage location');
    const numel = countField(items[4], 'storage size');
    if (!type.dtype) return new PickleOpaque(type.global.module, type.global.name, pid as PickleTuple);
    const known = storages.get(key);
    if (known) {
      if (known.dtype !== type.dtype || known.numel !== numel) {
        throw new PickleValueError(`storage ${JSON.stringify(key)} is declared twice with different types or sizes`);
      }
      return known;
    }
    const entry = zip.get(`${prefix}data/${key}`);
    if (!entry) throw new PickleValueError(`storage ${JSON.stringify(key)} has no entry ${prefix}data/${key}`);
    if (entry.uncompressedSize !== numel * type.bytes) {
      throw new PickleValueError(
        `storage ${JSON.stringify(key)} declares ${numel} x ${type.bytes} bytes but its entry holds ${entry.uncompressedSize}`,
      );
    }
    const load = headerOnly ? unread(key, file) : () => zip.read(entry);
    const storage = new TorchStorage(type.dtype, numel, key, location, file, source.size, load);
    storages.set(key, storage);
    return storage;
  };
  return unpickle(zip.read(pkl), { file, context: pkl.name, persistentLoad, reducers: TORCH_REDUCERS }).value;
}

/** One storage named in a legacy file; `data` is filled in once the stream past the pickles is read. */
interface LegacyRoot {
  readonly key: string;
  readonly itemBytes: number;
  readonly numel: number;
  readonly dtype: TorchDtype | null;
  data?: Uint8Array;
}

/**
 * `bytes` is the whole file of `fileSize` bytes, or with `headerOnly` its
 * first bytes: then reading stops after the main pickle and storages are
 * never located.
 */
function readLegacyCheckpoint(bytes: Uint8Array, file: string, fileSize: number, headerOnly: boolean): PickleValue {
  const magic = unpickle(bytes, { file, context: 'legacy magic number' });
  if (magic.value !== LEGACY_MAGIC) throw new CheckpointError('bad legacy magic number (corrupt file?)', file);
  const version = unpickle(bytes, { file, context: 'legacy protocol version', offset: magic.end });
  if (version.value !== LEGACY_PROTOCOL_VERSION) {
    throw new CheckpointError(`unsupported legacy protocol version ${String(version.value)}`, file);
  }
  const sysInfo = unpickle(bytes, { file, context: 'legacy sys_info', offset: version.end });
  if (!(sysInfo.value instanceof PickleDict)) throw new CheckpointError('legacy sys_info is not a dict', file);
  if (sysInfo.value.get('little_endian') === false) {
    throw new CheckpointError('big-endian legacy checkpoints are not supported', file);
  }

  const roots = new Map<string, LegacyRoot>();
  const views = new Map<string, TorchStorage | PickleOpaque>();
  const rootStorages = new Map<string, TorchStorage | PickleOpaque>();
  const persistentLoad = (pid: PickleValue): PickleValue => {
    if (pid instanceof PickleTuple && pid.items[0] === 'module') {
      // A whole pickled nn.Module class: its source is recorded, never needed.
      return new PickleOpaque('torch.serialization', 'module', pid);
    }
    const items = storageId(pid, 6);
    const type = storageType(items[1]);
    const rootKey = stringField(items[2], 'storage key');
    const location = stringField(items[3], 'storage location');
    const numel = countField(items[4], 'storage size');
    if (numel * type.bytes > fileSize) {
      throw new PickleValueError(`storage ${JSON.stringify(rootKey)} claims ${numel} elements, more than the file holds`);
    }
    let root = roots.get(rootKey);
    if (!root) {
      root = { key: rootKey, itemBytes: type.bytes, numel, dtype: type.dtype };
      roots.set(rootKey, root);
    } else if (root.dtype !== type.dtype || root.numel !== numel || root.itemBytes !== type.bytes) {
      throw new PickleValueError(`storage ${JSON.stringify(rootKey)} is declared twice with different types or sizes`);
    }
    const r = root;
    const view = items[5];
    if (view === null) {
      let storage = rootStorages.get(rootKey);
      if (!storage) {
        storage = type.dtype
          ? new TorchStorage(type.dtype, numel, rootKey, location, file, fileSize, headerOnly ? unread(rootKey, file) : () => rootData(r, file))
          : new PickleOpaque(type.global.module, type.global.name, pid as PickleTuple);
        rootStorages.set(rootKey, storage);
      }
      return storage;
    }
    // (view_key, element offset, element count): a slice of the root storage.
    if (!(view instanceof PickleTuple) || view.items.length !== 3) {
      throw new PickleValueError(`storage view metadata must be a 3-tuple, got ${pyTypeName(view)}`);
    }
    const viewKey = stringField(view.items[0], 'view key');
    const viewOffset = countField(view.items[1], 'view offset');
    const viewSize = countField(view.items[2], 'view size');
    if (viewOffset + viewSize > numel) {
      throw new PickleValueError(`storage view ${JSON.stringify(viewKey)} runs past its ${numel}-element root`);
    }
    let storage = views.get(viewKey);
    if (!storage) {
      storage = type.dtype
        ? new TorchStorage(type.dtype, viewSize, viewKey, location, file, fileSize, headerOnly ? unread(viewKey, file) : () =>
            rootData(r, file).subarray(viewOffset * r.itemBytes, (viewOffset + viewSize) * r.itemBytes),
          )
        : new PickleOpaque(type.global.module, type.global.name, pid as PickleTuple);
      views.set(viewKey, storage);
    }
    return storage;
  };
  const main = unpickle(bytes, {
    file,
    context: 'legacy main pickle',
    offset: sysInfo.end,
    persistentLoad,
    reducers: TORCH_REDUCERS,
  });
  if (headerOnly) return main.value;

  const keyList = unpickle(bytes, { file, context: 'legacy storage key list', offset: main.end });
  if (!Array.isArray(keyList.value)) throw new CheckpointError('legacy storage key list is not a list', file);
  let at = keyList.end;
  for (const key of keyList.value) {
    if (typeof key !== 'string') throw new CheckpointError(`legacy storage key is a ${pyTypeName(key)}`, file);
    const root = roots.get(key);
    if (!root) throw new CheckpointError(`legacy data names storage ${JSON.stringify(key)}, which no tensor uses`, file);
    if (root.data) throw new CheckpointError(`legacy data lists storage ${JSON.stringify(key)} twice`, file);
    if (at + 8 > bytes.length) throw new CheckpointError(`legacy data of storage ${JSON.stringify(key)} is truncated`, file);
    const claimed = readInt64(bytes, at);
    const left = bytes.length - at - 8;
    if (claimed < 0n || claimed * BigInt(root.itemBytes) > BigInt(left)) {
      throw new CheckpointError(
        `legacy storage ${JSON.stringify(key)} claims ${claimed} elements; only ${left} bytes are left`,
        file,
      );
    }
    const count = Number(claimed);
    if (count !== root.numel) {
      throw new CheckpointError(
        `legacy storage ${JSON.stringify(key)} has ${count} elements, but the pickle declared ${root.numel}`,
        file,
      );
    }
    root.data = bytes.subarray(at + 8, at + 8 + count * root.itemBytes);
    at += 8 + count * root.itemBytes;
  }
  for (const root of roots.values()) {
    if (!root.data) throw new CheckpointError(`legacy storage ${JSON.stringify(root.key)} has no data`, file);
  }
  return main.value;
}

function rootData(root: LegacyRoot, file: string): Uint8Array {
  if (!root.data) throw new CheckpointError(`legacy storage ${JSON.stringify(root.key)} has no data`, file);
  return root.data;
}

/** Signed little-endian int64, exact (the caller has checked the 8 bytes exist). */
function readInt64(bytes: Uint8Array, at: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset + at, 8).getBigInt64(0, true);
}

// --- persistent ids and reducers -------------------------------------------------

function storageId(pid: PickleValue, length: number): readonly PickleValue[] {
  if (!(pid instanceof PickleTuple) || pid.items[0] !== 'storage') {
    throw new PickleValueError(`unsupported persistent id ${pyTypeName(pid)}`);
  }
  if (pid.items.length !== length) {
    throw new PickleValueError(`storage id has ${pid.items.length} fields, expected ${length}`);
  }
  return pid.items;
}

function storageType(value: PickleValue): { global: PickleGlobal; dtype: TorchDtype | null; bytes: number } {
  if (!(value instanceof PickleGlobal)) throw new PickleValueError(`storage type is a ${pyTypeName(value)}`);
  const known = STORAGE_MODULES.has(value.module) ? STORAGE_TYPES[value.name] : undefined;
  if (!known || !Object.hasOwn(STORAGE_TYPES, value.name)) {
    throw new PickleValueError(`unknown storage type ${value.qualifiedName}`);
  }
  return { global: value, ...known };
}

function stringField(value: PickleValue, what: string): string {
  if (typeof value !== 'string') throw new PickleValueError(`${what} is a ${pyTypeName(value)}, not a str`);
  return value;
}

/** A non-negative integer that can index memory. */
function countField(value: PickleValue, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new PickleValueError(`${what} must be a non-negative int, got ${pyTypeName(value)} ${String(value)}`);
  }
  return value;
}

function intTuple(value: PickleValue, what: string, ctx: ReduceContext): number[] {
  if (!(value instanceof PickleTuple)) throw new PickleValueError(`${what} must be a tuple, got ${pyTypeName(value)}`);
  ctx.charge(value.items.length);
  return value.items.map((v) => countField(v, what));
}

/** `_rebuild_tensor(storage, offset, size, stride)` and `_rebuild_tensor_v2(..., requires_grad, hooks[, metadata])`. */
function rebuildTensor(args: readonly PickleValue[], ctx: ReduceContext): PickleValue {
  const v2 = ctx.callee.name === '_rebuild_tensor_v2';
  if (v2 ? args.length !== 6 && args.length !== 7 : args.length !== 4) {
    throw new PickleValueError(`${ctx.callee.qualifiedName} got ${args.length} arguments`);
  }
  const storage = args[0];
  if (storage instanceof PickleOpaque) {
    return new PickleOpaque(ctx.callee.module, ctx.callee.name, new PickleTuple(args));
  }
  if (!(storage instanceof TorchStorage)) {
    throw new PickleValueError(`tensor storage is a ${pyTypeName(storage)}`);
  }
  const offset = countField(args[1], 'storage offset');
  const shape = intTuple(args[2], 'tensor size', ctx);
  const stride = intTuple(args[3], 'tensor stride', ctx);
  const tensor = new TorchTensor(storage, offset, shape, stride, v2 && args[4] === true);
  const problem = layoutProblem(tensor);
  if (problem) throw new PickleValueError(problem);
  return tensor;
}

/** `_rebuild_parameter(data, requires_grad, hooks)` and `_rebuild_parameter_with_state(..., state)`: the data is the tensor. */
function rebuildParameter(args: readonly PickleValue[], ctx: ReduceContext): PickleValue {
  const expected = ctx.callee.name === '_rebuild_parameter' ? 3 : 4;
  if (args.length !== expected) throw new PickleValueError(`${ctx.callee.qualifiedName} got ${args.length} arguments`);
  const data = args[0];
  if (data instanceof TorchTensor) {
    return new TorchTensor(data.storage, data.offset, data.shape, data.stride, args[1] === true);
  }
  if (data instanceof PickleOpaque) return data;
  throw new PickleValueError(`parameter data is a ${pyTypeName(data)}`);
}

/** `_rebuild_from_type_v2(func, type, args, state)`: tensor subclasses; applies `func` only if it is whitelisted. */
function rebuildFromType(args: readonly PickleValue[], ctx: ReduceContext): PickleValue {
  if (args.length !== 4) throw new PickleValueError(`${ctx.callee.qualifiedName} got ${args.length} arguments`);
  const [func, , inner] = args;
  if (!(inner instanceof PickleTuple)) throw new PickleValueError('rebuild arguments must be a tuple');
  const reducer = func instanceof PickleGlobal ? TORCH_REDUCERS.get(`${func.module}.${func.name}`) : undefined;
  if (!reducer || reducer === rebuildFromType || !(func instanceof PickleGlobal)) {
    return new PickleOpaque(ctx.callee.module, ctx.callee.name, new PickleTuple(args));
  }
  return reducer(inner.items, { callee: func, charge: ctx.charge });
}

const TORCH_REDUCERS: ReadonlyMap<string, Reducer> = new Map<string, Reducer>([
  ['torch._utils._rebuild_tensor', rebuildTensor],
  ['torch._utils._rebuild_tensor_v2', rebuildTensor],
  ['torch._utils._rebuild_parameter', rebuildParameter],
  ['torch._utils._rebuild_parameter_with_state', rebuildParameter],
  ['torch._tensor._rebuild_from_type_v2', rebuildFromType],
  [
    'torch.Size',
    (args, ctx) => {
      if (args.length !== 1) throw new PickleValueError('torch.Size takes one tuple');
      return new PickleTuple(intTuple(args[0], 'torch.Size', ctx));
    },
  ],
]);

// --- layout and element access ---------------------------------------------------

const INTEGER_DTYPES: ReadonlySet<TorchDtype> = new Set(['int64', 'int32', 'int16', 'int8', 'uint8', 'bool']);

/** Why the tensor's shape/stride/offset do not fit its storage, or undefined when they do. */
function layoutProblem(t: TorchTensor): string | undefined {
  const { shape, stride, offset, storage } = t;
  if (shape.length !== stride.length) return `tensor has ${shape.length} sizes but ${stride.length} strides`;
  const all = [offset, ...shape, ...stride];
  if (!all.every((v) => Number.isSafeInteger(v) && v >= 0)) return 'tensor sizes, strides and offset must be non-negative integers';
  if (shape.includes(0)) {
    return offset <= storage.numel ? undefined : `tensor offset ${offset} is past its ${storage.numel}-element storage`;
  }
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
  if (!(last < storage.numel)) {
    return `tensor of shape [${shape}] stride [${stride}] offset ${offset} reaches element ${last} of a ${storage.numel}-element storage`;
  }
  return undefined;
}

/** The element count, after checking the layout fits the storage and the output fits the file-size budget. */
function checkedNumel(t: TorchTensor): number {
  const problem = layoutProblem(t);
  if (problem) throw new CheckpointError(problem, t.storage.file);
  const numel = t.numel;
  // Zero strides let a tiny storage describe a huge tensor; cap the output by what the file could hold.
  if (numel > Math.max(t.storage.numel, t.storage.fileSize)) {
    throw new CheckpointError(`tensor of shape [${t.shape}] is too large for a ${t.storage.fileSize}-byte file`, t.storage.file);
  }
  return numel;
}

function isContiguous(t: TorchTensor): boolean {
  let expected = 1;
  for (let d = t.shape.length - 1; d >= 0; d--) {
    if (t.shape[d] !== 1 && t.stride[d] !== expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

/** Calls `fn(outputIndex, storageIndex)` for every element in row-major order. */
function forEachElement(t: TorchTensor, numel: number, fn: (i: number, src: number) => void): void {
  if (!isContiguous(t)) return forEachStrided(t.shape, t.stride, t.offset, fn);
  for (let i = 0; i < numel; i++) fn(i, t.offset + i);
}

/**
 * Runs `fn`, letting AlaeErrors through and wrapping anything else (which
 * would be a bug here, not a problem with the file) so callers still learn
 * which file was being read.
 */
function guarded<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AlaeError) throw err;
    throw new CheckpointError(`internal error while reading: ${(err as Error)?.message ?? String(err)}`, file, err);
  }
}
