/**
 * Minimal reader for the `tf.train.Example` protocol buffer:
 *
 *   Example  { Features features = 1; }
 *   Features { map<string, Feature> feature = 1; }   // entries: key = 1, value = 2
 *   Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
 *   BytesList { repeated bytes value = 1; }
 *   FloatList { repeated float value = 1; }   // packed or not
 *   Int64List { repeated int64 value = 1; }   // packed or not
 *
 * Unknown fields are skipped. Bytes values are returned as offsets into the
 * given buffer so large image payloads are never copied here.
 */

export type ExampleFeature =
  | { kind: 'bytes'; values: Array<{ offset: number; length: number }> }
  | { kind: 'float'; values: number[] }
  | { kind: 'int64'; values: number[] };

export class ProtoError extends Error {}

class Reader {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtoError('truncated varint');
      const b = this.buf[this.pos++];
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        // int64 two's complement: 10-byte varints with the top bit are negative.
        return value >= 2 ** 63 ? value - 2 ** 64 : value;
      }
      scale *= 128;
    }
    throw new ProtoError('varint longer than 10 bytes');
  }

  /** Returns [start, end) of a length-delimited field's payload and skips it. */
  lengthDelimited(): [number, number] {
    const len = this.varint();
    if (len < 0 || this.pos + len > this.end) throw new ProtoError('length-delimited field runs past its message');
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.lengthDelimited();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new ProtoError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new ProtoError('fixed-width field runs past its message');
  }

  float32(): number {
    if (this.pos + 4 > this.end) throw new ProtoError('truncated float');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
}

/** Each embedded message in field `field` of the message `r` reads (other fields skipped). */
function* messages(r: Reader, field: number): Generator<Reader> {
  while (!r.done()) {
    const t = r.varint();
    if (t !== (field << 3) + 2) {
      r.skip(t & 7);
      continue;
    }
    const [s, e] = r.lengthDelimited();
    yield new Reader(r.buf, s, e);
  }
}

/**
 * The values of a FloatList or Int64List (field 1 of the list): packed (one
 * length-delimited run) or one field per value of wire type `wire`.
 */
function numberList(list: Reader, wire: number, read: (r: Reader) => number): number[] {
  const values: number[] = [];
  while (!list.done()) {
    const t = list.varint();
    if (t === (1 << 3) + 2) {
      const [vs, ve] = list.lengthDelimited();
      const packed = new Reader(list.buf, vs, ve);
      while (!packed.done()) values.push(read(packed));
    } else if (t === (1 << 3) + wire) values.push(read(list));
    else list.skip(t & 7);
  }
  return values;
}

function parseFeature(buf: Uint8Array, start: number, end: number): ExampleFeature | null {
  const r = new Reader(buf, start, end);
  let feature: ExampleFeature | null = null;
  while (!r.done()) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire !== 2 || field < 1 || field > 3) {
      r.skip(wire);
      continue;
    }
    const [s, e] = r.lengthDelimited();
    const list = new Reader(buf, s, e);
    if (field === 1) {
      const values: Array<{ offset: number; length: number }> = [];
      while (!list.done()) {
        const t = list.varint();
        if (t === (1 << 3) + 2) {
          const [vs, ve] = list.lengthDelimited();
          values.push({ offset: vs, length: ve - vs });
        } else list.skip(t & 7);
      }
      feature = { kind: 'bytes', values };
    } else if (field === 2) {
      feature = { kind: 'float', values: numberList(list, 5, (rd) => rd.float32()) };
    } else {
      feature = { kind: 'int64', values: numberList(list, 0, (rd) => rd.varint()) };
    }
  }
  return feature;
}

/**
 * Parse a serialized `tf.train.Example` in buf[start, end) into its feature
 * map. Throws ProtoError on malformed input.
 */
export function parseExample(buf: Uint8Array, start = 0, end = buf.length): Map<string, ExampleFeature> {
  const features = new Map<string, ExampleFeature>();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  // Example.features (field 1) -> Features.feature (field 1, map entries) -> key (1) and Feature (2).
  for (const feats of messages(new Reader(buf, start, end), 1)) {
    for (const entry of messages(feats, 1)) {
      let key = '';
      let value: ExampleFeature | null = null;
      while (!entry.done()) {
        const et = entry.varint();
        if (et === (1 << 3) + 2) {
          const [ks, ke] = entry.lengthDelimited();
          key = decoder.decode(buf.subarray(ks, ke));
        } else if (et === (2 << 3) + 2) {
          const [vs, ve] = entry.lengthDelimited();
          value = parseFeature(buf, vs, ve);
        } else entry.skip(et & 7);
      }
      if (value) features.set(key, value);
    }
  }
  return features;
}
