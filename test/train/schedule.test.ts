import { describe, expect, it } from 'vitest';
import { resolveConfig, type TrainConfig } from '../../src/config/config.js';
import {
  batchForLod,
  blendFactor,
  checkSchedule,
  imagesBefore,
  imagesInEpoch,
  inTransition,
  iterationsPerEpoch,
  learningRate,
  levelAt,
  lodForEpoch,
  reportKimgForLod,
  snapshotKimgForLod,
  totalImages,
  type ScheduleSpec,
} from '../../src/train/schedule.js';

const ffhq = resolveConfig('ffhq').train; // EPOCHS_PER_LOD 16, 9 layers
const spec = (train: TrainConfig, layerCount: number, epochImages: number): ScheduleSpec => ({ train, layerCount, epochImages });

describe('lod_driver schedule', () => {
  it('lod = min(L - 1, epoch // EPOCHS_PER_LOD)', () => {
    expect([0, 15, 16, 31, 32, 127, 128, 143, 144, 299].map((e) => lodForEpoch(e, ffhq, 9))).toEqual([0, 0, 1, 1, 2, 7, 8, 8, 8, 8]);
  });

  it('fades in during the first EPOCHS_PER_LOD // 2 epochs of each grown level only', () => {
    const t = (e: number) => inTransition(e, ffhq, 9);
    expect([0, 7, 8, 15].map(t)).toEqual([false, false, false, false]); // lod 0 never fades in
    expect([16, 23, 24, 31].map(t)).toEqual([true, true, false, false]);
    expect([128, 135, 136].map(t)).toEqual([true, true, false]); // the last level fades in too
    expect([144, 150, 160].map(t)).toEqual([false, false, false]); // epochs past the last level: not growing
    const odd = { ...ffhq, epochsPerLod: 3 }; // 3 // 2 = 1: only the first epoch of a level
    expect([3, 4, 5, 6].map((e) => inTransition(e, odd, 9))).toEqual([true, false, false, true]);
    const one = { ...ffhq, epochsPerLod: 1 }; // 1 // 2 = 0: no fade-in at all
    expect([1, 2, 3].map((e) => inTransition(e, one, 9))).toEqual([false, false, false]);
  });

  it('blend = sin(t*pi - pi/2) * 0.5 + 0.5 with t over the first half of the level', () => {
    const s = spec(ffhq, 9, 1000);
    expect(blendFactor(16, 0, s)).toBe(0); // sin(-pi/2) * 0.5 + 0.5
    expect(blendFactor(18, 0, s)).toBeCloseTo(0.5 - Math.SQRT1_2 / 2, 12); // t = 2000/8000 = 0.25
    expect(blendFactor(20, 0, s)).toBeCloseTo(0.5, 12); // t = 0.5
    expect(blendFactor(22, 500, s)).toBeCloseTo(0.9157348061512726, 12); // t = 6500/8000: 0.5 + 0.5 sin(0.3125 pi)
    expect(blendFactor(23, 999, s)).toBeCloseTo(0.5 + 0.5 * Math.sin((7999 / 8000) * Math.PI - Math.PI / 2), 12);
    expect(blendFactor(24, 0, s)).toBe(1); // transition over
    expect(blendFactor(5, 300, s)).toBe(1); // lod 0
    expect(blendFactor(2, 3, spec({ ...ffhq, epochsPerLod: 1 }, 9, 10))).toBe(1); // the reference would divide by zero here
  });

  it('batch per lod clamps to the last entry', () => {
    const t = { ...ffhq, lodBatch: [512, 256, 128] };
    expect([0, 1, 2, 3, 8].map((l) => batchForLod(l, t))).toEqual([512, 256, 128, 128, 128]);
  });

  it('learning rate: LEARNING_RATES[lod] * gamma ** bisect_right(milestones, epoch), no batch scaling', () => {
    const t = { ...ffhq, learningRates: [0.001, 0.002], baseLearningRate: 0.005, learningDecaySteps: [10, 20], learningDecayRate: 0.1 };
    expect(learningRate(0, 0, t)).toBe(0.001);
    expect(learningRate(9, 1, t)).toBe(0.002);
    expect(learningRate(10, 1, t)).toBeCloseTo(0.0002, 15); // bisect_right([10, 20], 10) = 1
    expect(learningRate(20, 0, t)).toBeCloseTo(0.00001, 15);
    expect(learningRate(3, 2, t)).toBe(0.005); // past LEARNING_RATES: BASE_LEARNING_RATE (config.ts)
    // ffhq's own table: 0.0015 up to lod 5, then 0.002, 0.003, 0.003, whatever the batch.
    expect([0, 5, 6, 7, 8].map((l) => learningRate(100, l, ffhq))).toEqual([0.0015, 0.0015, 0.002, 0.003, 0.003]);
  });

  it('report and snapshot ticks per lod follow REPORT_FREQ / SNAPSHOT_FREQ', () => {
    const t = resolveConfig('celeba').train;
    expect([0, 3, 8, 12].map((l) => reportKimgForLod(l, t))).toEqual([100, 30, 5, 5]);
    expect([0, 3, 8, 12].map((l) => snapshotKimgForLod(l, t))).toEqual([300, 100, 10, 10]);
  });

  it('an epoch is whole batches only (the last partial batch is skipped)', () => {
    expect(iterationsPerEpoch(1000, 128)).toBe(7);
    const t = { ...ffhq, epochsPerLod: 2, trainEpochs: 5, lodBatch: [4, 3] };
    const s = spec(t, 3, 10);
    expect([0, 1, 2, 3, 4].map((e) => imagesInEpoch(e, s))).toEqual([8, 8, 9, 9, 9]);
    expect(imagesBefore(3, 6, s)).toBe(8 + 8 + 9 + 6);
    expect(totalImages(s)).toBe(43);
  });

  it('levelAt combines the pieces', () => {
    const s = spec(resolveConfig('test-micro', { train: { epochsPerLod: 2, trainEpochs: 6, lodBatch: [4, 2] } }).train, 3, 8);
    expect(levelAt(2, 4, s)).toEqual({ epoch: 2, lod: 1, resolution: 8, batch: 2, inTransition: true, blend: 0.5, lr: 0.0015 });
    expect(levelAt(5, 0, s)).toMatchObject({ lod: 2, resolution: 16, inTransition: false, blend: 1 });
  });

  it('rejects an epoch smaller than a batch', () => {
    expect(() => checkSchedule(spec(ffhq, 9, 100))).toThrow(/larger than an epoch/);
    expect(() => checkSchedule(spec({ ...ffhq, lodBatch: [8] }, 3, 8))).not.toThrow();
  });
});
