/**
 * The safetensors container format:
 *
 *   [u64 LE header length N][N bytes of UTF-8 JSON header][data section]
 *
 * The header is a JSON object mapping tensor names to
 * `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the start
 * of the data section) plus an optional `"__metadata__": {string: string}`.
 * Tensor byte ranges are contiguous, non-overlapping and cover the data
 * section exactly. Writers pad the header with spaces to a multiple of 8.
 *
 * Tensor data is kept as raw little-endian bytes; {@link f32} and
 * {@link fromFloat32} convert to and from Float32Array.
 */
import { open } from 'node:fs/promises';
import { AlaeError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { readError, readWholeFile } from './read-file.js';
import { decodeFloat32, LITTLE_ENDIAN_HOST, type NumberType } from './numbers.js';

export type SafeDtype = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafeTensor {
  dtype: SafeDtype;
  shape: number[];
  /** Raw little-endian element bytes, row-major. */
  data: Uint8Array;
}

export interface SafetensorsFile {
  /** Tensors in data-section order. Their `data` are views into the parsed buffer. */
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

/** How each dtype stores its elements. */
const SAFE_TYPES: Readonly<Record<SafeDtype, NumberType>> = Object.freeze({
  F64: { kind: 'float', bytes: 8 },
  I64: { kind: 'int', bytes: 8 },
  F32: { kind: 'float', bytes: 4 },
  I32: { kind: 'int', bytes: 4 },
  F16: { kind: 'float', bytes: 2 },
  BF16: { kind: 'bfloat', bytes: 2 },
  I16: { kind: 'int', bytes: 2 },
  I8: { kind: 'int', bytes: 1 },
  U8: { kind: 'uint', bytes: 1 },
  BOOL: { kind: 'bool', bytes: 1 },
});

/** Largest header accepted (same cap as the reference implementation). */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

export function isSafeDtype(x: unknown): x is SafeDtype {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(SAFE_TYPES, x);
}

/** Element count of a shape; `[]` (scalar) has one element. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Checks a shape and returns its byte size, or a reason it is invalid. */
function checkShape(shape: unknown, dtype: SafeDtype): { bytes: number } | { error: string } {
  if (!Array.isArray(shape)) return { error: `shape must be an array, got ${JSON.stringify(shape)}` };
  let bytes: number = SAFE_TYPES[dtype].bytes;
  for (const d of shape) {
    if (!isNonNegInt(d)) return { error: `shape ${JSON.stringify(shape)} must contain non-negative integers` };
    bytes *= d;
    if (!Number.isSafeInteger(bytes)) return { error: `shape ${JSON.stringify(shape)} is too large` };
  }
  return { bytes };
}

// ---------------------------------------------------------------------------
// Parsing

/**
 * Parses a complete safetensors file. Everything is validated; any problem
 * throws an {@link AlaeError} naming `file` (and the tensor, where relevant).
 * Returned tensor data are views into `bytes` (no copy).
 */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new AlaeError(`invalid safetensors file: ${msg}`, file);
  };
  if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, too short for the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (8 + n > bytes.byteLength) {
    fail(`header length ${n} runs past the end of the file (${bytes.byteLength} bytes)`);
  }
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (text[0] !== '{') fail(`header must start with '{' (a JSON object)`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) return fail('header must be a JSON object');

  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafeDtype; shape: number[]; begin: number; end: number }[] = [];

  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (info === null) continue;
      if (!isPlainObject(info)) fail(`"${METADATA_KEY}" must be an object of strings`);
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata value for "${k}" must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v as string;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (!isPlainObject(info)) return fail(`${where}: entry must be an object`);
    const { dtype, shape, data_offsets: offs } = info;
    if (!isSafeDtype(dtype)) return fail(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
    const sh = checkShape(shape, dtype);
    if ('error' in sh) return fail(`${where}: ${sh.error}`);
    if (!Array.isArray(offs) || offs.length !== 2 || !isNonNegInt(offs[0]) || !isNonNegInt(offs[1])) {
      return fail(`${where}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen) {
      fail(`${where}: data_offsets [${begin}, ${end}] run past the data section (${dataLen} bytes)`);
    }
    if (end - begin !== sh.bytes) {
      fail(
        `${where}: shape ${JSON.stringify(shape)} of ${dtype} needs ${sh.bytes} bytes ` +
          `but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    entries.push({ name, dtype, shape: (shape as number[]).slice(), begin, end });
  }

  // Contiguity: sorted by offsets, each range must start where the previous ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: string | undefined;
  for (const e of entries) {
    if (e.begin < pos) {
      fail(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap tensor "${prev}" (which ends at ${pos})`);
    }
    if (e.begin > pos) {
      fail(`tensor "${e.name}": gap of ${e.begin - pos} bytes before its data_offsets [${e.begin}, ${e.end}]`);
    }
    pos = e.end;
    prev = e.name;
  }
  if (pos !== dataLen) {
    fail(`data section is ${dataLen} bytes but the tensors cover only ${pos} (${dataLen - pos} trailing bytes)`);
  }

  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      data: bytes.subarray(dataStart + e.begin, dataStart + e.end),
    });
  }
  return { tensors, metadata };
}

// ---------------------------------------------------------------------------
// Serialization

function tensorEntries(tensors: Map<string, SafeTensor> | Record<string, SafeTensor>): [string, SafeTensor][] {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  return list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * Serializes tensors (ordered by name) and optional metadata (keys sorted).
 * Output is deterministic: identical input gives identical bytes.
 * Throws {@link AlaeError} for invalid tensors (unknown dtype, bad shape, data size mismatch).
 */
export function serializeSafetensors(
  tensors: Map<string, SafeTensor> | Record<string, SafeTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = tensorEntries(tensors);
  const parts: string[] = [];
  if (metadata && Object.keys(metadata).length > 0) {
    const keys = Object.keys(metadata).sort();
    const kv = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') throw new AlaeError(`safetensors metadata value for "${k}" must be a string`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${kv.join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of list) {
    if (name === METADATA_KEY) throw new AlaeError(`safetensors: "${METADATA_KEY}" is reserved and cannot name a tensor`);
    if (!isSafeDtype(t.dtype)) throw new AlaeError(`safetensors: tensor "${name}" has unknown dtype ${JSON.stringify(t.dtype)}`);
    const sh = checkShape(t.shape, t.dtype);
    if ('error' in sh) throw new AlaeError(`safetensors: tensor "${name}": ${sh.error}`);
    if (!(t.data instanceof Uint8Array) || t.data.byteLength !== sh.bytes) {
      throw new AlaeError(
        `safetensors: tensor "${name}": shape ${JSON.stringify(t.shape)} of ${t.dtype} needs ${sh.bytes} bytes, ` +
          `data has ${t.data?.byteLength}`,
      );
    }
    const end = offset + sh.bytes;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  let headerText = `{${parts.join(',')}}`;
  let headerBytes = Buffer.from(headerText, 'utf8');
  const pad = (8 - (headerBytes.byteLength % 8)) % 8;
  if (pad) {
    headerText += ' '.repeat(pad);
    headerBytes = Buffer.from(headerText, 'utf8');
  }
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const [, t] of list) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Files

/** Reads and validates a safetensors file. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  return parseSafetensors(await readWholeFile(path), path);
}

/**
 * The metadata of a safetensors file, reading only its header (to tell a
 * model file from a checkpoint before reading either whole). A header that
 * does not parse gives `{}`: the full reader then names the problem.
 */
export async function readSafetensorsMetadata(path: string): Promise<Record<string, string>> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw readError(path, e);
  }
  try {
    const len = Buffer.alloc(8);
    if ((await fh.read(len, 0, 8, 0)).bytesRead < 8) return {};
    const n = len.readBigUInt64LE(0);
    if (n < 2n || n > BigInt(MAX_HEADER_BYTES)) return {};
    const head = Buffer.alloc(Number(n));
    if ((await fh.read(head, 0, head.length, 8)).bytesRead < head.length) return {};
    const meta = (JSON.parse(head.toString('utf8')) as Record<string, unknown>)[METADATA_KEY];
    if (!isPlainObject(meta)) return {};
    return Object.fromEntries(Object.entries(meta).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  } finally {
    await fh.close();
  }
}

/** Serializes and writes atomically (never leaves a half-written file). */
export async function writeSafetensors(
  path: string,
  tensors: Map<string, SafeTensor> | Record<string, SafeTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

// ---------------------------------------------------------------------------
// Conversions

/**
 * The tensor's elements as a Float32Array.
 * F32: a zero-copy view when `data` is 4-byte aligned (on little-endian hosts),
 * otherwise a copy; bit patterns (NaN payloads, -0) are preserved.
 * Other dtypes are converted (F64 rounded to float32; I64 via Number, so
 * magnitudes above 2^53 lose precision).
 */
export function f32(t: SafeTensor): Float32Array {
  const count = shapeSize(t.shape);
  const type = SAFE_TYPES[t.dtype];
  if (type === undefined) throw new AlaeError(`safetensors: unknown dtype ${JSON.stringify(t.dtype)}`);
  if (t.data.byteLength !== count * type.bytes) {
    throw new AlaeError(
      `safetensors: shape ${JSON.stringify(t.shape)} of ${t.dtype} needs ${count * type.bytes} bytes, data has ${t.data.byteLength}`,
    );
  }
  if (t.dtype === 'F32' && LITTLE_ENDIAN_HOST && t.data.byteOffset % 4 === 0) {
    return new Float32Array(t.data.buffer, t.data.byteOffset, count);
  }
  return decodeFloat32(t.data, count, type);
}

/** An F32 tensor holding a copy of `values` (bit-exact, little-endian). */
export function fromFloat32(shape: readonly number[], values: Float32Array): SafeTensor {
  const sh = checkShape(shape, 'F32');
  if ('error' in sh) throw new AlaeError(`safetensors: ${sh.error}`);
  if (values.length * 4 !== sh.bytes) {
    throw new AlaeError(`safetensors: shape ${JSON.stringify(shape)} needs ${sh.bytes / 4} values, got ${values.length}`);
  }
  const data = new Uint8Array(sh.bytes);
  if (LITTLE_ENDIAN_HOST) {
    data.set(new Uint8Array(values.buffer, values.byteOffset, sh.bytes));
  } else {
    const dv = new DataView(data.buffer);
    const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < u.length; i++) dv.setUint32(i * 4, u[i], true);
  }
  return { dtype: 'F32', shape: shape.slice(), data };
}
