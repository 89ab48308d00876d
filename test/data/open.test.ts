import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchLoader } from '../../src/data/loader.js';
import { MnistDataset } from '../../src/data/mnist.js';
import { datasetKind, openDataset } from '../../src/data/open.js';
import { FolderDataset } from '../../src/data/folder.js';
import { TfrecordsDataset } from '../../src/data/tfrecords.js';
import { frameRecord, imageExample } from './tfrecord-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'alae-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openDataset', () => {
  it('picks the kind from the spec', () => {
    expect(datasetKind('mnist')).toBe('mnist');
    expect(datasetKind('MNIST')).toBe('mnist');
    expect(datasetKind('./mnist')).toBe('folder');
    expect(datasetKind('data/ffhq-r%02d.tfrecords')).toBe('tfrecords');
    expect(datasetKind('data/celeba-r%02d.tfrecords.%03d')).toBe('tfrecords');
    expect(datasetKind('dir/*-r05.tfrecords')).toBe('tfrecords');
    expect(datasetKind('dir/x.tfrecords.001')).toBe('tfrecords');
    expect(datasetKind('../shared/faces/celeba-aligned128')).toBe('folder');
  });

  it('opens each kind', async () => {
    expect(await openDataset('mnist', { channels: 1 })).toBeInstanceOf(MnistDataset);
    const faces = join(dir, 'faces');
    mkdirSync(faces);
    for (const f of ['00000.png', '00001.png', '00002.png']) copyFileSync(join('../shared/faces/celeba-aligned128', f), join(faces, f));
    const folder = await openDataset(faces, { channels: 3, resolutions: [8] });
    expect(folder).toBeInstanceOf(FolderDataset);
    // end to end: a batch of faces
    const loader = new BatchLoader(folder, { batchSize: 2, resolution: 8, seed: 0, mirror: true });
    const b = await loader.next();
    expect(b.shape).toEqual([2, 8, 8, 3]);
    expect(Math.min(...b.data)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...b.data)).toBeLessThanOrEqual(1);
    loader.close();
    await folder.close();
    writeFileSync(join(dir, 'one.tfrecords'), frameRecord(imageExample(new Uint8Array(16).fill(200), 1, 4, 4)));
    const tfr = await openDataset(join(dir, 'one.tfrecords'), { channels: 3 });
    expect(tfr).toBeInstanceOf(TfrecordsDataset);
    expect([...(await tfr.get(0, 4)).subarray(0, 3)]).toEqual([200, 200, 200]);
    await tfr.close();
  });

  it('gives clear errors naming the path', async () => {
    await expect(openDataset(join(dir, 'missing'), { channels: 3 })).rejects.toThrow(/missing: no such folder or file/);
    await expect(openDataset(join(dir, 'missing-r%02d.tfrecords'), { channels: 3 })).rejects.toThrow(/no tfrecords files match/);
    await expect(openDataset('', { channels: 3 })).rejects.toThrow(/no dataset/);
    await expect(openDataset('mnist', { channels: 2 })).rejects.toThrow(/channels must be 1 or 3/);
  });
});
