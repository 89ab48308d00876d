import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlaeError } from '../../src/errors.js';
import { encodeNpy, loadNpy, loadNpySync, readNpy, saveNpy, saveNpySync } from '../../src/io/npy.js';
import { useTempDir } from '../temp-dir.js';
import { expectAlae } from '../expect-alae.js';

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

const tmp = useTempDir('alae-npy-');

const bits = (a: Float32Array): number[] => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];

/** Hand-built .npy: magic, version, length field, header text padded with spaces + '\n'. */
function hand(header: string, data: Uint8Array, major = 1, align = 64): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  let h = header;
  while ((pre + h.length + 1) % align) h += ' ';
  h += '\n';
  const hb = Buffer.from(h, major === 3 ? 'utf8' : 'latin1');
  const out = new Uint8Array(pre + hb.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, hb.length, true);
  else dv.setUint32(8, hb.length, true);
  out.set(hb, pre);
  out.set(data, pre + hb.length);
  return out;
}
const f4le = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);
const dict = (descr: string, shape: string, fortran = 'False') =>
  `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;

describe('encodeNpy / readNpy round trip', () => {
  const SPECIAL = [0x7fc00001, 0xffa5a5a5, 0x80000000, 0x00000001, 0x807fffff, 0x7f800000, 0x3f800000, 0xbf000000];
  it('is bit-exact for shapes [1, n], [n], scalars, empty and 3-D', () => {
    const vals = new Float32Array(new Uint32Array(SPECIAL).buffer);
    for (const shape of [[1, 8], [8], [2, 2, 2], [8, 1]]) {
      const r = readNpy(encodeNpy(shape, vals), 'mem.npy');
      expect(r.shape).toEqual(shape);
      expect(r.dtype).toBe('<f4');
      expect(bits(r.data)).toEqual(SPECIAL);
    }
    const s = readNpy(encodeNpy([], new Float32Array([2.5])), 'mem.npy');
    expect(s.shape).toEqual([]);
    expect([...s.data]).toEqual([2.5]);
    const e = readNpy(encodeNpy([0, 5], new Float32Array(0)), 'mem.npy');
    expect(e.shape).toEqual([0, 5]);
    expect(e.data.length).toBe(0);
  });

  it('lays files out like numpy.save (64-byte aligned, v1 header text)', () => {
    const b = encodeNpy([1, 32], new Float32Array(32));
    expect(b.length).toBe(128 + 128);
    expect(Buffer.from(b.subarray(0, 8)).toString('latin1')).toBe('\x93NUMPY\x01\x00');
    const hlen = b[8] | (b[9] << 8);
    expect((10 + hlen) % 64).toBe(0);
    const text = Buffer.from(b.subarray(10, 10 + hlen)).toString('latin1');
    expect(text.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 32), }")).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    expect(Buffer.from(encodeNpy([32], new Float32Array(32))).toString('latin1')).toContain("'shape': (32,), }");
  });

  it('switches to format 2.0 when the header would not fit in 64 KiB', () => {
    const shape = new Array(25000).fill(1);
    const b = encodeNpy(shape, new Float32Array([7]));
    expect(b[6]).toBe(2);
    const r = readNpy(b, 'big.npy');
    expect(r.shape.length).toBe(25000);
    expect([...r.data]).toEqual([7]);
  });

  it('rejects data/shape mismatch and bad shapes', () => {
    expect(() => encodeNpy([2, 3], new Float32Array(5))).toThrow(AlaeError);
    expect(() => encodeNpy([-1], new Float32Array(0))).toThrow(AlaeError);
    expect(() => encodeNpy([1.5], new Float32Array(1))).toThrow(AlaeError);
  });

  it('saves atomically and loads back', async () => {
    const p = join(tmp.path, 'direction_0.npy');
    await saveNpy(p, [1, 4], new Float32Array([1, 2, 3, 4]));
    const r = await loadNpy(p);
    expect(r.shape).toEqual([1, 4]);
    expect([...r.data]).toEqual([1, 2, 3, 4]);
    saveNpySync(p, [4], new Float32Array([4, 3, 2, 1]));
    expect([...loadNpySync(p).data]).toEqual([4, 3, 2, 1]);
    expect(readdirSync(tmp.path).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await expect(loadNpy(join(tmp.path, 'nope.npy'))).rejects.toBeInstanceOf(AlaeError);
  });
});

describe('hand-built headers', () => {
  it('v1 and v2 and v3 little-endian float32, 16-byte (old numpy) alignment', () => {
    for (const major of [1, 2, 3]) {
      const r = readNpy(hand(dict('<f4', '(1, 3)'), f4le(1, -2, 0.5), major), 'h.npy');
      expect(r.shape).toEqual([1, 3]);
      expect([...r.data]).toEqual([1, -2, 0.5]);
    }
    const old = readNpy(hand(`{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}`, f4le(1, 2, 3), 1, 16), 'old.npy');
    expect([...old.data]).toEqual([1, 2, 3]);
  });

  it('Python 2 long literals, double quotes, key order, no trailing comma', () => {
    const h = `{"shape": (2L, 1L), "fortran_order": False, "descr": "<f4"}`;
    const r = readNpy(hand(h, f4le(5, 6)), 'py2.npy');
    expect(r.shape).toEqual([2, 1]);
    expect([...r.data]).toEqual([5, 6]);
  });

  it('v3 UTF-8 header', () => {
    const r = readNpy(hand(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }   `, f4le(9), 3), 'v3.npy');
    expect([...r.data]).toEqual([9]);
  });

  it('other dtypes, big-endian conversion', () => {
    const f8 = new Uint8Array(new Float64Array([0.1, -3]).buffer);
    expect([...readNpy(hand(dict('<f8', '(2,)'), f8), 'a').data]).toEqual([Math.fround(0.1), -3]);
    const i4 = new Uint8Array(new Int32Array([-7, 2 ** 30]).buffer);
    expect([...readNpy(hand(dict('<i4', '(2,)'), i4), 'a').data]).toEqual([-7, 2 ** 30]);
    const i8 = new Uint8Array(new BigInt64Array([-5n, 1n << 40n]).buffer);
    expect([...readNpy(hand(dict('<i8', '(2,)'), i8), 'a').data]).toEqual([-5, 2 ** 40]);
    expect([...readNpy(hand(dict('|u1', '(3,)'), new Uint8Array([0, 7, 255])), 'a').data]).toEqual([0, 7, 255]);
    const f2 = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c]);
    expect([...readNpy(hand(dict('<f2', '(4,)'), f2), 'a').data]).toEqual([1, -2, 2 ** -24, Infinity]);
    const be = new Uint8Array(8);
    const dv = new DataView(be.buffer);
    dv.setUint32(0, 0x7fc00123, false); // NaN payload survives the byte swap
    dv.setFloat32(4, -1.25, false);
    const r = readNpy(hand(dict('>f4', '(1, 2)'), be), 'be.npy');
    expect(r.dtype).toBe('>f4');
    expect(bits(r.data)).toEqual([0x7fc00123, new Uint32Array(new Float32Array([-1.25]).buffer)[0]]);
    const be8 = new Uint8Array(8);
    new DataView(be8.buffer).setFloat64(0, 2.5, false);
    expect([...readNpy(hand(dict('>f8', '()'), be8), 'a').data]).toEqual([2.5]);
    expect([...readNpy(hand(dict('|b1', '(2,)'), new Uint8Array([1, 0])), 'a').data]).toEqual([1, 0]);
  });

  it('fortran_order True is transposed to C order', () => {
    // C-order matrix [[1,2,3],[4,5,6]] stored column-major: 1 4 2 5 3 6
    const r = readNpy(hand(dict('<f4', '(2, 3)', 'True'), f4le(1, 4, 2, 5, 3, 6)), 'f.npy');
    expect(r.shape).toEqual([2, 3]);
    expect([...r.data]).toEqual([1, 2, 3, 4, 5, 6]);
    // 3-D: element (i,j,k) = 100i + 10j + k, shape (2,3,2)
    const shape = [2, 3, 2];
    const fdata: number[] = [];
    for (let k = 0; k < 2; k++) for (let j = 0; j < 3; j++) for (let i = 0; i < 2; i++) fdata.push(100 * i + 10 * j + k);
    const c: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 2; k++) c.push(100 * i + 10 * j + k);
    const r3 = readNpy(hand(dict('<f4', '(2, 3, 2)', 'True'), f4le(...fdata)), 'f3.npy');
    expect(r3.shape).toEqual(shape);
    expect([...r3.data]).toEqual(c);
    // 1-D Fortran is the same as C
    expect([...readNpy(hand(dict('<f4', '(3,)', 'True'), f4le(1, 2, 3)), 'a').data]).toEqual([1, 2, 3]);
  });
});

describe('readNpy rejects bad files, naming the file', () => {
  const F = 'dirs/direction_3.npy';
  const good = (h = dict('<f4', '(2,)'), data = f4le(1, 2), major = 1) => hand(h, data, major);
  it('magic, size and version problems', () => {
    expectAlae(() => readNpy(new Uint8Array(4), F), F, 'too short');
    const b = good();
    b[1] = 0x4f;
    expectAlae(() => readNpy(b, F), F, 'magic');
    const v = good();
    v[6] = 4;
    expectAlae(() => readNpy(v, F), F, 'version 4.0');
    const len = good();
    new DataView(len.buffer).setUint16(8, 60000, true);
    expectAlae(() => readNpy(len, F), F, 'runs past the end');
    const big = good(undefined, undefined, 2);
    new DataView(big.buffer).setUint32(8, 0xffffffff, true);
    expectAlae(() => readNpy(big, F), F, 'exceeds');
  });
  it('data too short or with trailing bytes', () => {
    const b = good();
    expectAlae(() => readNpy(b.subarray(0, b.length - 1), F), F, 'needs 8 data bytes', 'has 7');
    const t = new Uint8Array(b.length + 4);
    t.set(b);
    expectAlae(() => readNpy(t, F), F, '4 unexpected trailing bytes');
  });
  it('header dict problems (parsed, never evaluated)', () => {
    expectAlae(() => readNpy(good(`__import__('os').system('true')`), F), F, 'bad header');
    expectAlae(() => readNpy(good(`{'descr': '<f4', 'fortran_order': False}`), F), F, 'keys must be exactly');
    expectAlae(() => readNpy(good(`{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}`), F), F, 'keys');
    expectAlae(() => readNpy(good(`{'descr': '<f4', 'descr': '<f4', 'shape': (2,)}`), F), F, 'duplicate');
    expectAlae(() => readNpy(good(`{'descr': '<f4', 'fortran_order': False, 'shape': (2,)`), F), F, 'bad header');
    expectAlae(() => readNpy(good(`{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}`), F), F, 'fortran_order');
    expectAlae(() => readNpy(good(dict('<f4', '(-2,)')), F), F, "'shape'");
    expectAlae(() => readNpy(good(dict('<f4', '(2.0,)')), F), F, 'unsupported number');
    expectAlae(() => readNpy(good(dict('<f4', '[2]')), F), F, "'shape' must be a tuple");
    expectAlae(() => readNpy(good(`[1, 2]`), F), F, 'not a dict');
    expectAlae(() => readNpy(good(`{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} extra`), F), F, 'bad header');
  });
  it('unsupported dtypes', () => {
    expectAlae(() => readNpy(good(dict('<c8', '(2,)')), F), F, 'unsupported dtype "<c8"');
    expectAlae(() => readNpy(good(dict('|O', '(2,)')), F), F, 'unsupported dtype');
    expectAlae(() => readNpy(good(dict('|f4', '(2,)')), F), F, "'|'");
    const structured = `{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }`;
    expectAlae(() => readNpy(good(structured), F), F, 'structured');
  });
  it('invalid UTF-8 in a v3 header', () => {
    const b = good(dict('<f4', '(2,)'), f4le(1, 2), 3);
    b[14] = 0xff;
    expectAlae(() => readNpy(b, F), F, 'UTF-8');
  });
});

describe.skipIf(!hasNumpy)('cross-check with numpy', () => {
  it('reads what numpy writes (dtypes, versions, byte orders, Fortran order)', async () => {
    const script = String.raw`
import json, sys, os
import numpy as np
from numpy.lib import format as fmt
d = sys.argv[1]
rng = np.random.default_rng(0)
cases = {
  'dir_1x32': rng.standard_normal((1, 32)).astype('<f4'),
  'dir_32': rng.standard_normal(32).astype('<f4'),
  'f8': rng.standard_normal((3, 4)),
  'i4': np.arange(-6, 6, dtype='<i4').reshape(3, 4),
  'i8': np.arange(-6, 6, dtype='<i8') * 1000003,
  'u1': np.arange(0, 256, 17, dtype='u1'),
  'f2': np.array([1, -2, 6e-8, 65504, np.inf, -0.0], dtype='<f2'),
  'be': rng.standard_normal((2, 3)).astype('>f4'),
  'bef8': rng.standard_normal(5).astype('>f8'),
  'fortran': np.asfortranarray(rng.standard_normal((2, 3, 4)).astype('<f4')),
  'scalar': np.array(3.5, dtype='<f4'),
  'empty': np.zeros((0, 5), dtype='<f4'),
  'bool': np.array([True, False, True]),
}
nan = np.array([0x7fc00001, 0x80000000, 1], dtype='<u4').view('<f4')
cases['nanpayload'] = nan
meta = {}
for name, a in cases.items():
    np.save(os.path.join(d, name + '.npy'), a)
    meta[name] = list(a.shape)
    np.ascontiguousarray(a, dtype='<f4').tofile(os.path.join(d, name + '.f32'))
for ver in [(1, 0), (2, 0), (3, 0)]:
    name = 'v%d' % ver[0]
    a = rng.standard_normal((4, 2)).astype('<f4')
    with open(os.path.join(d, name + '.npy'), 'wb') as f:
        fmt.write_array(f, a, version=ver)
    meta[name] = list(a.shape)
    a.tofile(os.path.join(d, name + '.f32'))
print(json.dumps(meta))
`;
    const sub = mkdtempSync(join(tmp.path, 'np-'));
    const r = spawnSync('python3', ['-c', script, sub], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const meta = JSON.parse(r.stdout) as Record<string, number[]>;
    expect(Object.keys(meta).length).toBe(17);
    for (const [name, shape] of Object.entries(meta)) {
      const got = await loadNpy(join(sub, `${name}.npy`));
      const raw = readFileSync(join(sub, `${name}.f32`));
      const want = new Float32Array(new Uint8Array(raw).buffer);
      expect(got.shape, name).toEqual(shape);
      expect(bits(got.data), name).toEqual(bits(want));
    }
  });

  it('numpy reads what we write, and our bytes equal numpy.save output', () => {
    const cases: [string, number[], Float32Array][] = [
      ['a', [1, 32], Float32Array.from({ length: 32 }, (_, i) => Math.sin(i) * 1e-3)],
      ['b', [32], Float32Array.from({ length: 32 }, (_, i) => i - 16.5)],
      ['c', [], new Float32Array([-0])],
      ['d', [0], new Float32Array(0)],
      ['e', [2, 3, 4], Float32Array.from({ length: 24 }, (_, i) => i / 7)],
      ['f', [3], new Float32Array(new Uint32Array([0x7fc00001, 0x00000001, 0x80000000]).buffer)],
      ['g', [12345678901, 0], new Float32Array(0)],
    ];
    const sub = mkdtempSync(join(tmp.path, 'ours-'));
    for (const [n, shape, data] of cases) {
      saveNpySync(join(sub, `${n}.npy`), shape, data);
      writeFileSync(join(sub, `${n}.raw`), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    const script = String.raw`
import io, json, sys, os
import numpy as np
d = sys.argv[1]
for n in json.loads(sys.argv[2]):
    p = os.path.join(d, n + '.npy')
    a = np.load(p)
    raw = open(os.path.join(d, n + '.raw'), 'rb').read()
    assert a.dtype == np.dtype('<f4'), (n, a.dtype)
    assert a.flags['C_CONTIGUOUS']
    assert a.tobytes() == raw, n
    b = io.BytesIO()
    np.save(b, a)
    assert b.getvalue() == open(p, 'rb').read(), 'layout differs for ' + n
    print(n, a.shape)
print('OK')
`;
    const r = spawnSync('python3', ['-c', script, sub, JSON.stringify(cases.map((c) => c[0]))], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('a (1, 32)');
    expect(r.stdout).toContain('b (32,)');
    expect(r.stdout).toContain('c ()');
    expect(r.stdout.trim().endsWith('OK')).toBe(true);
  });
});
