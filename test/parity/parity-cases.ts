/**
 * The parity tests, shared by the backends that run them: every case of every folder of
 * ../shared/alae-reference passes at parity.ts's tolerances (inference 1e-4, training 2e-3).
 */
import { readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runParity } from '../../src/parity/parity.js';

const REF = path.resolve('../shared/alae-reference');
const dirs = existsSync(REF) ? readdirSync(REF).filter((d) => existsSync(path.join(REF, d, 'expected.safetensors'))) : [];

/** `skip`: why the backend is not there (each test then shows as skipped with it); null to run. */
export function parityTests(title: string, skip: string | null = null): void {
  describe(title, () => {
    it('finds the reference folders', () => {
      expect(dirs.length).toBeGreaterThanOrEqual(2);
    });
    for (const dir of dirs) {
      it(`${dir}: every case passes`, { timeout: 900_000 }, async (ctx) => {
        if (skip) ctx.skip(skip);
        const results = await runParity(path.join(REF, dir));
        const names = results.map((r) => r.name);
        for (const c of ['checkpoint_formats', 'encode', 'mapping', 'decode', 'mix_coarse', 'generate_truncated', 'loss_d', 'loss_g', 'loss_ae', 'adam_step']) expect(names).toContain(c);
        expect(names.some((n) => n.startsWith('encode_lod'))).toBe(true);
        expect(names.some((n) => n.startsWith('decode_lod'))).toBe(true);
        const failed = results.filter((r) => r.status !== 'ok').map((r) => `${r.name}: ${r.status} ${r.err} (${r.detail})`);
        expect(failed).toEqual([]);
      });
    }
  });
}
