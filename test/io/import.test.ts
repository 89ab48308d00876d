import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { importCheckpoint, inferModelConfig, matchPreset, readReferenceContents } from '../../src/io/import.js';
import { encodeModelFile, loadModelFile, readModelFile, saveModel } from '../../src/io/model-file.js';
import { AlaeModel } from '../../src/model/alae.js';
import { paramSpecs } from '../../src/model/params.js';
import { resolveConfig } from '../../src/config/config.js';
import { testBackend } from '../setup-backend.js';

const REF = path.resolve('../shared/alae-reference');
beforeAll(testBackend);

describe('reference checkpoint import', () => {
  for (const dir of ['tiny32', 'fused128']) {
    it(`${dir}: every key mapped, architecture inferred from shapes`, async () => {
      const ref = JSON.parse(readFileSync(path.join(REF, dir, 'config.json'), 'utf8'));
      const ck = await importCheckpoint(path.join(REF, dir, 'checkpoint.zip.pth'));
      const m = ck.config.model;
      expect([m.layerCount, m.startChannels, m.latentSize, m.mappingLayers, m.channels]).toEqual([ref.layer_count, ref.startf, ref.latent, ref.mapping_layers, ref.channels]);
      expect(m.maxChannels).toBe(ref.maxf);
      const specs = paramSpecs(m);
      expect(ck.averaged!.size).toBe(specs.length + 1);
      expect(ck.trained!.size).toBe(specs.length + 1);
      // averaged and trained differ (the reference wrote random, distinct copies)
      const k = 'decoder.decode_block.0.conv_2.weight';
      expect(Array.from(ck.averaged!.get(k)!)).not.toEqual(Array.from(ck.trained!.get(k)!));
      // a conv weight moved OIHW -> HWIO: element [o=1,i=2,y=0,x=1] lands at [0,1,2,1]
      const raw = ck.raw.get(`generator_s.${k.slice('decoder.'.length)}`)!;
      const [O, I] = raw.shape;
      expect(ck.averaged!.get(k)![((0 * 3 + 1) * I + 2) * O + 1]).toBe(raw.data[((1 * I + 2) * 3 + 0) * 3 + 1]);
      expect(ck.optimizers).not.toBeNull();
      expect(Object.keys(ck.optimizers!.encoder).length).toBeGreaterThan(0);
    });
  }

  it('describes a checkpoint from its header: under 5% of the shared files is read, not their tensors', async () => {
    for (const dir of ['tiny32', 'fused128']) {
      for (const format of ['zip', 'legacy'] as const) {
        const file = path.join(REF, dir, `checkpoint.${format}.pth`);
        const { contents, bytesRead } = await readReferenceContents(file);
        const full = await importCheckpoint(file);
        expect(contents).toEqual(full.contents);
        expect(contents.models.map((m) => m.state)).toEqual(Array(9).fill('present'));
        expect(bytesRead, `${dir} ${format}`).toBeLessThan(0.05 * readFileSync(file).length);
      }
    }
  });

  it('infers the published presets from their shapes', () => {
    for (const name of ['ffhq', 'celeba-hq256', 'bedroom', 'celeba', 'mnist']) {
      const cfg = resolveConfig(name).model;
      const shapes = new Map<string, number[]>();
      const prefix = { encoder: 'discriminator', decoder: 'generator', mapping_d: 'mapping_tl', mapping_f: 'mapping_fl' } as const;
      for (const s of paramSpecs(cfg)) shapes.set(`${prefix[s.network]}.${s.name.slice(s.network.length + 1)}`, s.torchShape);
      const inferred = inferModelConfig(shapes);
      expect(matchPreset(inferred)).toBe(name);
    }
  });

  it('names the tensor and both shapes when a shape is wrong; rejects a mismatching preset', async () => {
    await expect(importCheckpoint(path.join(REF, 'tiny32', 'checkpoint.zip.pth'), { preset: 'mnist' })).rejects.toThrow(/does not fit preset 'mnist': layerCount|startChannels/);
    await expect(importCheckpoint(path.join(REF, 'tiny32', 'checkpoint.zip.pth'), { preset: 'test-tiny32' })).resolves.toBeTruthy();
    await expect(importCheckpoint(path.join(REF, 'tiny32', 'config.json'))).rejects.toThrow(/config\.json/);
  });
});

describe('model file', () => {
  it('round-trips bit-exactly and is a valid safetensors file with the config', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'alae-model-'));
    const cfg = resolveConfig('test-micro');
    const m = AlaeModel.create(cfg, 9);
    m.dlatentAvg.assign(tf.randomNormal(m.dlatentAvg.shape));
    const file = path.join(dir, 'm.safetensors');
    await saveModel(file, m);
    const a = await m.toArrays();
    const back = await loadModelFile(file);
    const b = await back.toArrays();
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, v] of a) expect(Buffer.from(b.get(k)!.buffer, b.get(k)!.byteOffset, b.get(k)!.byteLength).equals(Buffer.from(v.buffer, v.byteOffset, v.byteLength))).toBe(true);
    expect(back.config).toEqual(m.config);
    // save -> load -> save gives the same bytes
    const again = path.join(dir, 'again.safetensors');
    await saveModel(again, back);
    expect(readFileSync(again).equals(readFileSync(file))).toBe(true);
    m.dispose();
    back.dispose();
  });

  it('a model whose weights do not match its config is refused with the file named', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'alae-model-'));
    const micro = resolveConfig('test-micro');
    const m = AlaeModel.create(micro, 1);
    const arrays = await m.toArrays();
    m.dispose();
    const lying = { ...micro, model: { ...micro.model, latentSize: 8 } };
    const file = path.join(dir, 'bad.safetensors');
    expect(() => encodeModelFile(lying, arrays)).toThrow(/shape|values/);
    arrays.delete('decoder.const');
    writeFileSync(file, encodeModelFile(micro, arrays));
    await expect(loadModelFile(file)).rejects.toThrow(/bad\.safetensors.*missing.*decoder\.const/);
    writeFileSync(file, 'not a model');
    await expect(readModelFile(file)).rejects.toThrow(/bad\.safetensors/);
  });

  it('import + load leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    const ck = await importCheckpoint(path.join(REF, 'tiny32', 'checkpoint.legacy.pth'));
    expect(tf.memory().numTensors).toBe(before);
    const m = AlaeModel.fromArrays(ck.config, ck.averaged!);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
