/**
 * Test-only TFRecord writer: tf.train.Example encoding and record framing,
 * written from the format description so the reader is checked against an
 * independent encoder.
 */
import { maskedCrc32c } from '../../src/data/crc32c.js';

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 128) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function field(num: number, wire: number): number[] {
  return varint(num * 8 + wire);
}

function lenField(num: number, payload: Uint8Array | number[]): number[] {
  return [...field(num, 2), ...varint(payload.length), ...payload];
}

export type FeatureValue =
  | { bytes: Uint8Array[] }
  | { int64: number[]; packed?: boolean }
  | { float: number[]; packed?: boolean };

function encodeFeature(f: FeatureValue): number[] {
  if ('bytes' in f) {
    const list: number[] = [];
    for (const b of f.bytes) list.push(...lenField(1, b));
    return lenField(1, list);
  }
  if ('int64' in f) {
    const list: number[] = [];
    if (f.packed === false) for (const v of f.int64) list.push(...field(1, 0), ...varint(v));
    else {
      const body: number[] = [];
      for (const v of f.int64) body.push(...varint(v));
      list.push(...lenField(1, body));
    }
    return lenField(3, list);
  }
  const body: number[] = [];
  const b = new Uint8Array(4);
  const dv = new DataView(b.buffer);
  const list: number[] = [];
  for (const v of f.float) {
    dv.setFloat32(0, v, true);
    if (f.packed === false) list.push(...field(1, 5), ...b);
    else body.push(...b);
  }
  if (f.packed !== false) list.push(...lenField(1, body));
  return lenField(2, list);
}

/** Serialize a tf.train.Example with the given features (in the given key order). */
export function encodeExample(features: Record<string, FeatureValue>): Uint8Array {
  const feats: number[] = [];
  for (const [key, value] of Object.entries(features)) {
    const entry = [...lenField(1, new TextEncoder().encode(key)), ...lenField(2, encodeFeature(value))];
    feats.push(...lenField(1, entry));
  }
  return new Uint8Array(lenField(1, feats));
}

/** The reference's image record: `shape` = [C, H, W], `data` = CHW bytes. */
export function imageExample(chw: Uint8Array, c: number, h: number, w: number, packed = true): Uint8Array {
  return encodeExample({ shape: { int64: [c, h, w], packed }, data: { bytes: [chw] } });
}

/** Frame one record: length, masked CRC of length, payload, masked CRC of payload. */
export function frameRecord(payload: Uint8Array, opts: { corruptDataCrc?: boolean; corruptLengthCrc?: boolean } = {}): Uint8Array {
  const out = new Uint8Array(12 + payload.length + 4);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, payload.length, true);
  dv.setUint32(4, 0, true);
  dv.setUint32(8, maskedCrc32c(out, 0, 8) ^ (opts.corruptLengthCrc ? 1 : 0), true);
  out.set(payload, 12);
  dv.setUint32(12 + payload.length, maskedCrc32c(payload) ^ (opts.corruptDataCrc ? 0x100 : 0), true);
  return out;
}
