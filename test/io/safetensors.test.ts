import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AlaeError } from '../../src/errors.js';
import {
  f32,
  fromFloat32,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
  type SafeTensor,
} from '../../src/io/safetensors.js';
import { useTempDir } from '../temp-dir.js';
import { expectAlae } from '../expect-alae.js';

const REF = resolve('../shared/alae-reference/tiny32/expected.safetensors');
const hasRef = existsSync(REF);
const hasPython = spawnSync('python3', ['-c', 'print(1)'], { encoding: 'utf8' }).status === 0;

const tmp = useTempDir('alae-st-');

function u32Tensor(shape: number[], bits: number[]): SafeTensor {
  const u = new Uint32Array(bits);
  return { dtype: 'F32', shape, data: new Uint8Array(u.buffer) };
}
function bytesOf(...b: number[]): Uint8Array {
  return new Uint8Array(b);
}

const SPECIAL_F32 = [
  0x7fc00000, // quiet NaN
  0x7fc00001, // NaN with payload
  0xffa5a5a5, // negative NaN with payload
  0x7f800001, // signalling NaN
  0x80000000, // -0
  0x00000001, // smallest subnormal
  0x807fffff, // largest negative subnormal
  0x7f800000, // +inf
  0xff800000, // -inf
  0x3f800000, // 1
];

function sampleTensors(): Map<string, SafeTensor> {
  const f64 = new Float64Array([Math.PI, -0, 5e-324]);
  const f64b = new Uint8Array(f64.buffer);
  // NaN payload in F64 set through raw bytes.
  const nanF64 = bytesOf(0x01, 0, 0, 0, 0, 0, 0xf8, 0x7f);
  const m = new Map<string, SafeTensor>();
  m.set('special', u32Tensor([2, 5], SPECIAL_F32));
  m.set('scalar', u32Tensor([], [0x40490fdb]));
  m.set('empty', { dtype: 'F32', shape: [0], data: new Uint8Array(0) });
  m.set('empty2d', { dtype: 'I64', shape: [3, 0], data: new Uint8Array(0) });
  m.set('f64', { dtype: 'F64', shape: [4], data: new Uint8Array([...f64b, ...nanF64]) });
  m.set('f16', { dtype: 'F16', shape: [3], data: bytesOf(0x00, 0x3c, 0x01, 0x00, 0x01, 0x7e) });
  m.set('bf16', { dtype: 'BF16', shape: [1, 2], data: bytesOf(0x80, 0x3f, 0x00, 0x80) });
  m.set('i64', { dtype: 'I64', shape: [1], data: bytesOf(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) });
  m.set('i32', { dtype: 'I32', shape: [1], data: bytesOf(0xfe, 0xff, 0xff, 0xff) });
  m.set('i16', { dtype: 'I16', shape: [1], data: bytesOf(0x00, 0x80) });
  m.set('i8', { dtype: 'I8', shape: [3], data: bytesOf(0x80, 0x7f, 0xff) });
  m.set('u8', { dtype: 'U8', shape: [3], data: bytesOf(0, 128, 255) });
  m.set('bool', { dtype: 'BOOL', shape: [2], data: bytesOf(1, 0) });
  m.set('0', u32Tensor([1], [0x3f800000])); // integer-like name: must not upset ordering
  return m;
}

describe('safetensors round trip', () => {
  it('is bit-exact for every dtype, NaN payloads, -0, subnormals, empty and scalar tensors', () => {
    const src = sampleTensors();
    const meta = { b: '2', a: 'ünïcode ✓', empty: '' };
    const bytes = serializeSafetensors(src, meta);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const { tensors, metadata } = parseSafetensors(bytes, 'mem.safetensors');
    expect(metadata).toEqual(meta);
    expect([...tensors.keys()].sort()).toEqual([...src.keys()].sort());
    for (const [name, t] of src) {
      const got = tensors.get(name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(Buffer.from(got.data).equals(Buffer.from(t.data))).toBe(true);
    }
    // f32() keeps the bit patterns of F32 data.
    const sp = f32(tensors.get('special')!);
    expect([...new Uint32Array(sp.buffer, sp.byteOffset, sp.length)]).toEqual(SPECIAL_F32);
    expect(f32(tensors.get('scalar')!).length).toBe(1);
    expect(f32(tensors.get('empty')!).length).toBe(0);
  });

  it('is deterministic regardless of insertion order or container type', () => {
    const a = sampleTensors();
    const rev = new Map([...a.entries()].reverse());
    const rec: Record<string, SafeTensor> = {};
    for (const [k, v] of rev) rec[k] = v;
    const b1 = serializeSafetensors(a, { x: '1', y: '2' });
    const b2 = serializeSafetensors(rev, { y: '2', x: '1' });
    const b3 = serializeSafetensors(rec, { x: '1', y: '2' });
    expect(Buffer.from(b1).equals(Buffer.from(b2))).toBe(true);
    expect(Buffer.from(b1).equals(Buffer.from(b3))).toBe(true);
    // Re-serializing parsed tensors reproduces the same file.
    const p = parseSafetensors(b1, 'mem');
    expect(Buffer.from(serializeSafetensors(p.tensors, p.metadata)).equals(Buffer.from(b1))).toBe(true);
    // Offsets follow name order.
    const hdr = JSON.parse(Buffer.from(b1.subarray(8, 8 + Number(new DataView(b1.buffer).getBigUint64(0, true)))).toString());
    const names = Object.keys(hdr).filter((k) => k !== '__metadata__');
    const byOffset = names.sort((x, y) => hdr[x].data_offsets[0] - hdr[y].data_offsets[0] || hdr[x].data_offsets[1] - hdr[y].data_offsets[1]);
    const nonEmpty = byOffset.filter((k) => hdr[k].data_offsets[1] > hdr[k].data_offsets[0]);
    expect(nonEmpty).toEqual([...nonEmpty].sort());
  });

  it('writes atomically and reads back from disk', async () => {
    const p = join(tmp.path, 'w.safetensors');
    await writeSafetensors(p, sampleTensors(), { k: 'v' });
    const r = await readSafetensors(p);
    expect(r.metadata).toEqual({ k: 'v' });
    const sp = f32(r.tensors.get('special')!);
    expect([...new Uint32Array(sp.buffer, sp.byteOffset, sp.length)]).toEqual(SPECIAL_F32);
    expect(readdirSync(tmp.path).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await expect(readSafetensors(join(tmp.path, 'missing.safetensors'))).rejects.toBeInstanceOf(AlaeError);
  });

  it('serializes an empty set of tensors', () => {
    const b = serializeSafetensors(new Map());
    const r = parseSafetensors(b, 'empty');
    expect(r.tensors.size).toBe(0);
    expect(r.metadata).toEqual({});
  });
});

describe('f32 / fromFloat32', () => {
  it('fromFloat32 copies bit-exactly and f32 round-trips', () => {
    const v = new Float32Array(new Uint32Array(SPECIAL_F32).buffer);
    const t = fromFloat32([10], v);
    expect(t.dtype).toBe('F32');
    v[0] = 42; // a copy, not a view
    const back = f32(t);
    expect([...new Uint32Array(back.buffer, back.byteOffset, back.length)]).toEqual(SPECIAL_F32);
    expect(() => fromFloat32([3], new Float32Array(2))).toThrow(AlaeError);
  });

  it('copies misaligned F32 data', () => {
    const buf = new Uint8Array(9);
    buf.set(new Uint8Array(new Float32Array([1.5, -2]).buffer), 1);
    const out = f32({ dtype: 'F32', shape: [2], data: buf.subarray(1) });
    expect([...out]).toEqual([1.5, -2]);
  });

  it('converts other dtypes to float32', () => {
    const m = sampleTensors();
    expect([...f32(m.get('f16')!)]).toEqual([1, 2 ** -24, NaN]);
    expect([...f32(m.get('bf16')!)]).toEqual([1, -0]);
    const f = f32(m.get('f64')!);
    expect(f[0]).toBe(Math.fround(Math.PI));
    expect(Object.is(f[1], -0)).toBe(true);
    expect(f[2]).toBe(0); // 5e-324 underflows in float32
    expect(f[3]).toBeNaN();
    expect([...f32(m.get('i64')!)]).toEqual([-1]);
    expect([...f32(m.get('i32')!)]).toEqual([-2]);
    expect([...f32(m.get('i16')!)]).toEqual([-32768]);
    expect([...f32(m.get('i8')!)]).toEqual([-128, 127, -1]);
    expect([...f32(m.get('u8')!)]).toEqual([0, 128, 255]);
    expect([...f32(m.get('bool')!)]).toEqual([1, 0]);
    expect(f32({ dtype: 'F16', shape: [2], data: bytesOf(0x00, 0x7c, 0x00, 0xfc) })[1]).toBe(-Infinity);
  });
});

describe('serializeSafetensors rejects bad tensors', () => {
  it('unknown dtype, size mismatch, bad shape, reserved name, non-string metadata', () => {
    const ok = u32Tensor([1], [0]);
    expect(() => serializeSafetensors({ a: { ...ok, dtype: 'Q8' as never } })).toThrow(/unknown dtype/);
    expect(() => serializeSafetensors({ a: { ...ok, shape: [2] } })).toThrow(/needs 8 bytes/);
    expect(() => serializeSafetensors({ a: { ...ok, shape: [-1] } })).toThrow(AlaeError);
    expect(() => serializeSafetensors({ a: { ...ok, shape: [0.5] } })).toThrow(AlaeError);
    expect(() => serializeSafetensors({ __metadata__: ok })).toThrow(/reserved/);
    expect(() => serializeSafetensors({ a: ok }, { k: 1 as never })).toThrow(/must be a string/);
  });
});

// --- hand-built corrupt files -------------------------------------------------

function build(header: string | object, dataLen: number, opts: { pad?: boolean; lenOverride?: bigint } = {}): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  if (opts.pad !== false) while (Buffer.byteLength(text) % 8) text += ' ';
  const h = Buffer.from(text, 'utf8');
  const out = new Uint8Array(8 + h.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, opts.lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

const T = (dtype: string, shape: unknown, offs: unknown) => ({ dtype, shape, data_offsets: offs });

describe('parseSafetensors rejects corrupt files, naming the file (and tensor)', () => {
  const F = 'bad/model.safetensors';
  it('accepts the hand-built baseline', () => {
    const r = parseSafetensors(build({ a: T('F32', [2], [0, 8]), b: T('U8', [3], [8, 11]) }, 11), F);
    expect([...r.tensors.keys()]).toEqual(['a', 'b']);
    // unpadded headers are fine too
    expect(parseSafetensors(build({ a: T('U8', [1], [0, 1]) }, 1, { pad: false }), F).tensors.size).toBe(1);
  });
  it('truncated file', () => {
    expectAlae(() => parseSafetensors(new Uint8Array(5), F), F, 'too short');
    const good = build({ a: T('F32', [2], [0, 8]) }, 8);
    expectAlae(() => parseSafetensors(good.subarray(0, good.length - 3), F), F, 'tensor "a"', 'run past');
    expectAlae(() => parseSafetensors(good.subarray(0, 20), F), F, 'past the end of the file');
  });
  it('header length larger than the file or than the cap', () => {
    expectAlae(() => parseSafetensors(build({}, 0, { lenOverride: 1000n }), F), F, 'header length 1000');
    expectAlae(() => parseSafetensors(build({}, 0, { lenOverride: 2n ** 63n }), F), F, 'exceeds');
    expectAlae(() => parseSafetensors(build({}, 0, { lenOverride: 0n }), F), F, 'too small');
  });
  it('bad JSON, non-object JSON, invalid UTF-8', () => {
    expectAlae(() => parseSafetensors(build('{"a": ', 0), F), F, 'not valid JSON');
    expectAlae(() => parseSafetensors(build('[1, 2, 3]', 0), F), F, "start with '{'");
    const bad = build('{"a":1}', 0);
    bad[10] = 0xff; // inside the key string
    expectAlae(() => parseSafetensors(bad, F), F, 'UTF-8');
    expectAlae(() => parseSafetensors(build({ a: 5 }, 0), F), F, 'tensor "a"', 'must be an object');
  });
  it('unknown dtype', () => {
    expectAlae(() => parseSafetensors(build({ w: T('F8', [1], [0, 1]) }, 1), F), F, 'tensor "w"', 'unknown dtype "F8"');
    expectAlae(() => parseSafetensors(build({ w: T('f32', [1], [0, 4]) }, 4), F), F, 'unknown dtype');
  });
  it('bad shapes and shape/size mismatch', () => {
    expectAlae(() => parseSafetensors(build({ w: T('F32', [3], [0, 8]) }, 8), F), F, 'tensor "w"', 'needs 12 bytes', 'span 8');
    expectAlae(() => parseSafetensors(build({ w: T('F32', [-2], [0, 8]) }, 8), F), F, 'tensor "w"', 'non-negative');
    expectAlae(() => parseSafetensors(build({ w: T('F32', [1.5], [0, 8]) }, 8), F), F, 'non-negative');
    expectAlae(() => parseSafetensors(build({ w: T('F32', '2', [0, 8]) }, 8), F), F, 'shape must be an array');
    expectAlae(() => parseSafetensors(build({ w: T('F32', [2 ** 40, 2 ** 40], [0, 8]) }, 8), F), F, 'too large');
  });
  it('malformed or out-of-range offsets', () => {
    expectAlae(() => parseSafetensors(build({ w: T('U8', [1], [0]) }, 1), F), F, 'tensor "w"', 'data_offsets');
    expectAlae(() => parseSafetensors(build({ w: T('U8', [1], [-1, 0]) }, 1), F), F, 'data_offsets');
    expectAlae(() => parseSafetensors(build({ w: T('U8', [0], [1, 0]) }, 1), F), F, 'end before');
    expectAlae(() => parseSafetensors(build({ w: T('U8', [4], [0, 4]) }, 2), F), F, 'run past the data section');
  });
  it('overlapping offsets', () => {
    const h = { a: T('F32', [2], [0, 8]), b: T('F32', [2], [4, 12]) };
    expectAlae(() => parseSafetensors(build(h, 12), F), F, 'tensor "b"', 'overlap tensor "a"');
    const dup = { a: T('F32', [2], [0, 8]), b: T('F32', [2], [0, 8]) };
    expectAlae(() => parseSafetensors(build(dup, 8), F), F, 'overlap');
  });
  it('gaps and uncovered trailing bytes', () => {
    const gap = { a: T('F32', [1], [0, 4]), b: T('F32', [1], [8, 12]) };
    expectAlae(() => parseSafetensors(build(gap, 12), F), F, 'tensor "b"', 'gap of 4 bytes');
    const lead = { a: T('F32', [1], [4, 8]) };
    expectAlae(() => parseSafetensors(build(lead, 8), F), F, 'gap');
    expectAlae(() => parseSafetensors(build({ a: T('F32', [1], [0, 4]) }, 6), F), F, '2 trailing bytes');
  });
  it('metadata that is not a string map', () => {
    expectAlae(() => parseSafetensors(build({ __metadata__: { k: 1 } }, 0), F), F, 'metadata value for "k"');
    expectAlae(() => parseSafetensors(build({ __metadata__: [1] }, 0), F), F, '__metadata__');
  });
});

// --- reference file written by Python's safetensors --------------------------

describe.skipIf(!hasRef)('reference file written by Python safetensors', () => {
  it('parses names, shapes and __metadata__', async () => {
    const { tensors, metadata } = await readSafetensors(REF);
    expect(tensors.size).toBeGreaterThan(100);
    const c = tensors.get('adam_step/decoder.const')!;
    expect(c.dtype).toBe('F32');
    expect(c.shape).toEqual([1, 64, 4, 4]);
    expect(tensors.get('adam_step/decoder.decode_block.0.style_1.weight')!.shape).toEqual([128, 32]);
    expect(metadata.latent).toBe('32');
    expect(metadata.resolution).toBe('32');
    expect(metadata.note).toContain('NCHW');
    for (const t of tensors.values()) expect(f32(t).length).toBe(t.shape.reduce((a, b) => a * b, 1));
  });

  it.skipIf(!hasPython)('re-serialized tensors are readable by an independent Python reader', async () => {
    const { tensors, metadata } = await readSafetensors(REF);
    const out = join(tmp.path, 'reserialized.safetensors');
    await writeSafetensors(out, tensors, metadata);
    const name = 'adam_step/decoder.decode_block.0.style_1.weight';
    const idx = 37;
    const value = f32(tensors.get(name)!)[idx];
    const script = String.raw`
import json, struct, sys
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n].decode('utf-8'))
    return b, n, h
ref, new, name, idx, expect = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
rb, rn, rh = load(ref)
nb, nn, nh = load(new)
assert nn % 8 == 0, 'header not padded to 8'
assert rh.get('__metadata__') == nh.get('__metadata__'), 'metadata differs'
rt = {k: v for k, v in rh.items() if k != '__metadata__'}
nt = {k: v for k, v in nh.items() if k != '__metadata__'}
assert set(rt) == set(nt), 'tensor names differ'
size = {'F32': 4, 'F64': 8, 'F16': 2, 'BF16': 2, 'I64': 8, 'I32': 4, 'I16': 2, 'I8': 1, 'U8': 1, 'BOOL': 1}
spans = []
for k in nt:
    a, b = rt[k], nt[k]
    assert a['dtype'] == b['dtype'] and a['shape'] == b['shape'], k
    s, e = b['data_offsets']
    cnt = 1
    for d in b['shape']:
        cnt *= d
    assert e - s == cnt * size[b['dtype']], k
    rs, re_ = a['data_offsets']
    assert rb[8 + rn + rs:8 + rn + re_] == nb[8 + nn + s:8 + nn + e], 'bytes differ for ' + k
    spans.append((s, e))
spans.sort()
pos = 0
for s, e in spans:
    assert s == pos, 'gap/overlap'
    pos = e
assert pos == len(nb) - 8 - nn, 'data section not covered exactly'
s, e = nh[name]['data_offsets']
v = struct.unpack_from('<f', nb, 8 + nn + s + 4 * idx)[0]
assert v == expect, (v, expect)
print('OK', len(nt))
`;
    const r = spawnSync('python3', ['-c', script, REF, out, name, String(idx), value.toPrecision(17)], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`OK ${tensors.size}`);
    // And our own reader agrees with the original byte-for-byte.
    const again = parseSafetensors(readFileSync(out), out);
    for (const [k, t] of tensors) expect(Buffer.from(again.tensors.get(k)!.data).equals(Buffer.from(t.data))).toBe(true);
  });
});
