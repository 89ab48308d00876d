/**
 * NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
 *
 *   "\x93NUMPY" major minor  header-length (u16 LE for v1, u32 LE for v2/v3)
 *   header: a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...), }
 *           (latin-1 for v1/v2, UTF-8 for v3), space padded, ending in '\n'
 *   data:   prod(shape) elements, C order unless fortran_order is True
 *
 * Reading converts any supported numeric dtype (either byte order) to a
 * row-major Float32Array; Fortran-ordered arrays are transposed to C order.
 * Writing produces little-endian float32 ('<f4') files laid out exactly as
 * `numpy.save` lays them out. The header is parsed by a small parser for the
 * Python literal subset numpy emits (never evaluated).
 */
import { AlaeError } from '../errors.js';
import { writeFileAtomic, writeFileAtomicSync } from '../util/atomic.js';
import { decodeFloat32, LITTLE_ENDIAN_HOST, type NumberKind, type NumberType } from './numbers.js';
import { readWholeFile, readWholeFileSync } from './read-file.js';
import { gatherStrided } from './strided.js';
import { rowMajorStrides } from '../util/strides.js';

export interface NpyArray {
  shape: number[];
  /** The array's dtype descriptor as written in the file, e.g. '<f4', '>f8', '|u1'. */
  dtype: string;
  /** Elements converted to float32, row-major (C order). */
  data: Float32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Largest header accepted; numpy's own headers are a few hundred bytes. */
export const MAX_NPY_HEADER_BYTES = 1 << 20;
const ARRAY_ALIGN = 64;
/** numpy leaves room for the growth axis to reach this many digits. */
const GROWTH_AXIS_MAX_DIGITS = 21;

// ---------------------------------------------------------------------------
// Python literal subset: dict, tuple, list, str, int, True/False/None.

/** A Python list (kept apart from tuples, which are plain arrays: numpy requires a tuple shape). */
class PyList {
  constructor(readonly items: PyValue[]) {}
}
type PyValue = string | number | boolean | null | PyValue[] | PyList | Map<string | number | boolean | null, PyValue>;

class PyLiteralParser {
  private pos = 0;
  constructor(
    private readonly src: string,
    private readonly fail: (msg: string) => never,
  ) {}

  parseTop(): PyValue {
    const v = this.value();
    this.ws();
    if (this.pos !== this.src.length) this.fail(`unexpected ${JSON.stringify(this.src.slice(this.pos, this.pos + 10))} after the header dict`);
    return v;
  }

  private ws(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos])) this.pos++;
  }

  private peek(): string {
    this.ws();
    return this.src[this.pos] ?? '';
  }

  private expect(ch: string): void {
    if (this.peek() !== ch) this.fail(`expected '${ch}' at header position ${this.pos}`);
    this.pos++;
  }

  private value(): PyValue {
    const c = this.peek();
    if (c === '{') return this.dict();
    if (c === '(') return this.seq('(', ')', true);
    if (c === '[') return this.seq('[', ']', false);
    if (c === "'" || c === '"') return this.str();
    if (c === '-' || c === '+' || (c >= '0' && c <= '9')) return this.int();
    const m = /^(True|False|None)\b/.exec(this.src.slice(this.pos, this.pos + 6));
    if (m) {
      this.pos += m[1].length;
      return m[1] === 'True' ? true : m[1] === 'False' ? false : null;
    }
    return this.fail(c ? `unexpected ${JSON.stringify(c)} at header position ${this.pos}` : 'header ends unexpectedly');
  }

  private dict(): PyValue {
    this.expect('{');
    const out = new Map<string | number | boolean | null, PyValue>();
    while (this.peek() !== '}') {
      const k = this.value();
      if (typeof k === 'object' && k !== null) this.fail('header dict keys must be strings, numbers or constants');
      if (out.has(k as string)) this.fail(`duplicate header key ${JSON.stringify(k)}`);
      this.expect(':');
      out.set(k as string, this.value());
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== '}') this.fail(`expected ',' or '}' at header position ${this.pos}`);
    }
    this.pos++;
    return out;
  }

  private seq(open: string, close: string, tuple: boolean): PyValue {
    this.expect(open);
    const out: PyValue[] = [];
    let sawComma = false;
    while (this.peek() !== close) {
      out.push(this.value());
      if (this.peek() === ',') {
        this.pos++;
        sawComma = true;
      } else if (this.peek() !== close) {
        this.fail(`expected ',' or '${close}' at header position ${this.pos}`);
      }
    }
    this.pos++;
    // "(x)" is just a parenthesized value in Python, not a 1-tuple.
    if (tuple && out.length === 1 && !sawComma) return out[0];
    return tuple ? out : new PyList(out);
  }

  private str(): string {
    const q = this.src[this.pos++];
    let s = '';
    for (;;) {
      if (this.pos >= this.src.length) this.fail('unterminated string in header');
      const c = this.src[this.pos++];
      if (c === q) return s;
      if (c === '\n') this.fail('newline inside a header string');
      if (c !== '\\') {
        s += c;
        continue;
      }
      const e = this.src[this.pos++];
      const hex = (len: number): string => {
        const h = this.src.slice(this.pos, this.pos + len);
        if (h.length !== len || !/^[0-9a-fA-F]+$/.test(h)) this.fail('bad escape in header string');
        this.pos += len;
        return String.fromCodePoint(parseInt(h, 16));
      };
      switch (e) {
        case '\\': s += '\\'; break;
        case "'": s += "'"; break;
        case '"': s += '"'; break;
        case 'n': s += '\n'; break;
        case 't': s += '\t'; break;
        case 'r': s += '\r'; break;
        case '0': s += '\0'; break;
        case 'x': s += hex(2); break;
        case 'u': s += hex(4); break;
        case 'U': s += hex(8); break;
        default: this.fail(`unsupported escape \\${e ?? ''} in header string`);
      }
    }
  }

  private int(): number {
    const m = /^[-+]?\d+L?/.exec(this.src.slice(this.pos)); // 'L': Python 2 longs, e.g. (3L, 4L)
    if (!m) return this.fail(`bad number at header position ${this.pos}`);
    this.pos += m[0].length;
    const txt = m[0].replace(/L$/, '');
    const n = Number(txt);
    if (!Number.isSafeInteger(n)) this.fail(`integer ${txt} in header is out of range`);
    if (/[.\w]/.test(this.src[this.pos] ?? '')) {
      this.fail(`unsupported number at header position ${this.pos - m[0].length}`);
    }
    return n;
  }
}

// ---------------------------------------------------------------------------
// dtype descriptors

interface DtypeInfo {
  type: NumberType;
  little: boolean;
}

const KINDS: Readonly<Record<string, NumberKind>> = { f: 'float', i: 'int', u: 'uint', b: 'bool' };

const SUPPORTED = new Set(['f2', 'f4', 'f8', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'b1']);

function parseDescr(descr: string, fail: (msg: string) => never): DtypeInfo {
  const m = /^([<>|=]?)([fiub])(\d+)$/.exec(descr);
  if (!m || !SUPPORTED.has(m[2] + m[3])) {
    return fail(`unsupported dtype ${JSON.stringify(descr)} (supported: float16/32/64, int8-64, uint8-64, bool)`);
  }
  const size = Number(m[3]);
  if (m[1] === '|' && size !== 1) fail(`dtype ${JSON.stringify(descr)}: '|' (no byte order) is only valid for 1-byte types`);
  // '=' is "native" of the writer; numpy itself always writes '<' or '>'.
  const little = m[1] === '>' ? false : m[1] === '=' ? LITTLE_ENDIAN_HOST : true;
  return { type: { kind: KINDS[m[2]], bytes: size as NumberType['bytes'] }, little };
}


/** Reorders Fortran-order (column-major) data of `shape` into C order. */
function fortranToC(src: Float32Array, shape: number[]): Float32Array {
  if (shape.length < 2 || src.length === 0) return src;
  return gatherStrided(src, shape, rowMajorStrides(shape.slice().reverse()).reverse());
}

// ---------------------------------------------------------------------------
// Reading

/** Parses a `.npy` file's bytes. Any problem throws {@link AlaeError} naming `file`. */
export function readNpy(bytes: Uint8Array, file: string): NpyArray {
  const fail = (msg: string): never => {
    throw new AlaeError(`invalid .npy file: ${msg}`, file);
  };
  if (bytes.byteLength < 10) fail(`file is ${bytes.byteLength} bytes, too short for a .npy preamble`);
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) fail('missing the \\x93NUMPY magic string');
  const major = bytes[6];
  const minor = bytes[7];
  if (!(major >= 1 && major <= 3) || minor !== 0) fail(`unsupported format version ${major}.${minor} (1.0, 2.0 and 3.0 are)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let hlen: number;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    headerStart = 10;
  } else {
    if (bytes.byteLength < 12) fail(`file is ${bytes.byteLength} bytes, too short for a v${major} preamble`);
    hlen = dv.getUint32(8, true);
    headerStart = 12;
  }
  if (hlen > MAX_NPY_HEADER_BYTES) fail(`header length ${hlen} exceeds the ${MAX_NPY_HEADER_BYTES}-byte limit`);
  if (headerStart + hlen > bytes.byteLength) {
    fail(`header length ${hlen} runs past the end of the file (${bytes.byteLength} bytes)`);
  }
  const raw = bytes.subarray(headerStart, headerStart + hlen);
  let text: string;
  if (major === 3) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      return fail('header is not valid UTF-8');
    }
  } else {
    text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  }

  const dict = new PyLiteralParser(text, (m) => fail(`bad header: ${m}`)).parseTop();
  if (!(dict instanceof Map)) return fail('header is not a dict');
  const keys = [...dict.keys()];
  const want = ['descr', 'fortran_order', 'shape'];
  if (keys.length !== 3 || !want.every((k) => dict.has(k))) {
    fail(`header keys must be exactly ${want.join(', ')}; got ${keys.map((k) => JSON.stringify(k)).join(', ')}`);
  }
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shapeV = dict.get('shape');
  if (typeof descr !== 'string') {
    const structured = Array.isArray(descr) || descr instanceof PyList;
    return fail(`unsupported dtype descriptor ${structured ? '(structured array)' : JSON.stringify(descr)}`);
  }
  if (typeof fortran !== 'boolean') return fail(`'fortran_order' must be True or False`);
  if (!Array.isArray(shapeV) || !shapeV.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    return fail(`'shape' must be a tuple of non-negative integers`);
  }
  const shape = shapeV as number[];
  const dt = parseDescr(descr, fail);

  let count = 1;
  for (const d of shape) count *= d;
  const need = count * dt.type.bytes;
  if (!Number.isSafeInteger(need)) fail(`shape (${shape.join(', ')}) is too large`);
  const dataStart = headerStart + hlen;
  const have = bytes.byteLength - dataStart;
  if (have < need) fail(`shape (${shape.join(', ')}) of ${descr} needs ${need} data bytes, file has ${have}`);
  if (have > need) fail(`${have - need} unexpected trailing bytes after the ${need} data bytes`);

  let data = decodeFloat32(bytes.subarray(dataStart), count, dt.type, dt.little);
  if (fortran) data = fortranToC(data, shape);
  return { shape: shape.slice(), dtype: descr, data };
}

/** Reads a `.npy` file. */
export async function loadNpy(path: string): Promise<NpyArray> {
  return readNpy(await readWholeFile(path), path);
}

/** Synchronous variant of {@link loadNpy}. */
export function loadNpySync(path: string): NpyArray {
  return readNpy(readWholeFileSync(path), path);
}

// ---------------------------------------------------------------------------
// Writing

function pyTuple(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/**
 * Encodes a float32 array as a C-order '<f4' `.npy` file, byte-identical to
 * `numpy.save` (format 1.0, or 2.0 if the header would not fit).
 */
export function encodeNpy(shape: readonly number[], data: Float32Array): Uint8Array {
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new AlaeError(`npy: shape ${JSON.stringify(shape)} must contain non-negative integers`);
    count *= d;
  }
  if (count !== data.length) {
    throw new AlaeError(`npy: shape ${JSON.stringify(shape)} has ${count} elements but data has ${data.length}`);
  }
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${pyTuple(shape)}, }`;
  // Spare room so the first axis can grow in place (numpy does the same).
  if (shape.length > 0) header += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  const build = (lenBytes: number): { pre: number; hlen: number } => {
    const pre = 8 + lenBytes;
    const body = header.length + 1; // + '\n'
    const pad = ARRAY_ALIGN - ((pre + body) % ARRAY_ALIGN);
    return { pre, hlen: body + pad };
  };
  let major = 1;
  let { pre, hlen } = build(2);
  if (hlen > 0xffff) {
    major = 2;
    ({ pre, hlen } = build(4));
  }
  const out = new Uint8Array(pre + hlen + count * 4);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, hlen, true);
  else dv.setUint32(8, hlen, true);
  const padded = header + ' '.repeat(hlen - header.length - 1) + '\n';
  out.set(Buffer.from(padded, 'latin1'), pre);
  const dataStart = pre + hlen;
  if (LITTLE_ENDIAN_HOST) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, count * 4), dataStart);
  } else {
    const u = new Uint32Array(data.buffer, data.byteOffset, count);
    for (let i = 0; i < count; i++) dv.setUint32(dataStart + i * 4, u[i], true);
  }
  return out;
}

/** Writes a float32 `.npy` file atomically. */
export async function saveNpy(path: string, shape: readonly number[], data: Float32Array): Promise<void> {
  await writeFileAtomic(path, encodeNpy(shape, data));
}

/** Synchronous variant of {@link saveNpy}. */
export function saveNpySync(path: string, shape: readonly number[], data: Float32Array): void {
  writeFileAtomicSync(path, encodeNpy(shape, data));
}
