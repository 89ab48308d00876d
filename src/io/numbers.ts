/**
 * The element types of tensor files (npy, safetensors, torch), read as
 * numbers: one reader per type, and a whole buffer as float32 with float32
 * and bfloat16 bit patterns (NaN payloads, -0) kept.
 */

export type NumberKind = 'float' | 'bfloat' | 'int' | 'uint' | 'bool';

export interface NumberType {
  readonly kind: NumberKind;
  readonly bytes: 1 | 2 | 4 | 8;
}

export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE half-precision bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero / subnormal
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Element `i` of `bytes` as a number. 64-bit integers are summed from their
 * two words in double, so rounded once (exact up to 2^53).
 */
export function numberReader(type: NumberType, bytes: Uint8Array, little = true): (i: number) => number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hi = little ? 4 : 0;
  const lo = 4 - hi;
  switch (`${type.kind}${type.bytes}`) {
    case 'float4':
      return (i) => v.getFloat32(i * 4, little);
    case 'float8':
      return (i) => v.getFloat64(i * 8, little);
    case 'float2':
      return (i) => halfToFloat(v.getUint16(i * 2, little));
    case 'bfloat2':
      return (i) => {
        u32[0] = v.getUint16(i * 2, little) << 16;
        return f32[0];
      };
    case 'int8':
      return (i) => v.getInt32(i * 8 + hi, little) * 0x1_0000_0000 + v.getUint32(i * 8 + lo, little);
    case 'uint8':
      return (i) => v.getUint32(i * 8 + hi, little) * 0x1_0000_0000 + v.getUint32(i * 8 + lo, little);
    case 'int4':
      return (i) => v.getInt32(i * 4, little);
    case 'uint4':
      return (i) => v.getUint32(i * 4, little);
    case 'int2':
      return (i) => v.getInt16(i * 2, little);
    case 'uint2':
      return (i) => v.getUint16(i * 2, little);
    case 'int1':
      return (i) => v.getInt8(i);
    case 'uint1':
      return (i) => v.getUint8(i);
    case 'bool1':
      return (i) => (v.getUint8(i) !== 0 ? 1 : 0);
  }
  throw new Error(`no reader for ${type.kind} of ${type.bytes} bytes`);
}

/** The first `count` elements of `bytes`, stored contiguously, as float32. */
export function decodeFloat32(bytes: Uint8Array, count: number, type: NumberType, little = true): Float32Array {
  const out = new Float32Array(count);
  if (count === 0) return out;
  if (type.kind === 'float' && type.bytes === 4 && little === LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
    return out;
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bits = new Uint32Array(out.buffer);
  if (type.kind === 'float' && type.bytes === 4) {
    for (let i = 0; i < count; i++) bits[i] = v.getUint32(i * 4, little);
  } else if (type.kind === 'bfloat') {
    for (let i = 0; i < count; i++) bits[i] = v.getUint16(i * 2, little) << 16;
  } else {
    const read = numberReader(type, bytes, little);
    for (let i = 0; i < count; i++) out[i] = read(i);
  }
  return out;
}
