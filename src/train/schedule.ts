/**
 * The training schedule as pure functions: progressive growing (lod_driver.py
 * LODDriver), the learning rate (scheduler.py ComboMultiStepLR) and the
 * report/snapshot ticks. Everything is a function of the position in
 * training, (epoch, images already seen in that epoch), so a checkpoint only
 * has to store that position.
 *
 * The learning rate rule, read from scheduler.py: train_alae.py builds
 * `ComboMultiStepLR(..., milestones=LEARNING_DECAY_STEPS,
 * gamma=LEARNING_DECAY_RATE, reference_batch_size=32, base_lr=LEARNING_RATES)`
 * and calls `set_batch_size(batch, lod)` at the start of every epoch, so
 *
 *   lr(epoch, lod) = LEARNING_RATES[lod] * gamma ** bisect_right(milestones, epoch)
 *
 * The warm-up factor is always 1 (warmup_factor = 1, warmup_iters = 1) and the
 * batch-size scaling (`* batch_size / reference_batch_size`) is commented out
 * in the reference, so reference_batch_size has no effect. BASE_LEARNING_RATE
 * is only the optimizers' initial value, overwritten before the first step;
 * the reference indexes LEARNING_RATES[lod] without a bound (an IndexError
 * when the list is shorter), where we fall back to baseLearningRate as
 * config.ts documents.
 */
import type { TrainConfig } from '../config/config.js';
import { AlaeError } from '../errors.js';

/** What the schedule needs: the train config and the model's layer count. */
export interface ScheduleSpec {
  train: TrainConfig;
  layerCount: number;
  /** Images per epoch (the reference: len(dataset)). */
  epochImages: number;
}

/** Level of detail of an epoch: min(L - 1, epoch // EPOCHS_PER_LOD) (LODDriver.set_epoch). */
export function lodForEpoch(epoch: number, train: TrainConfig, layerCount: number): number {
  return Math.min(layerCount - 1, Math.floor(epoch / train.epochsPerLod));
}

/**
 * Is the epoch in the fade-in of a new level? The first EPOCHS_PER_LOD // 2
 * epochs of each level > 0 that was reached by growing (not the epochs past
 * the last level). With EPOCHS_PER_LOD = 1 there is no fade-in at all.
 */
export function inTransition(epoch: number, train: TrainConfig, layerCount: number): boolean {
  const lod = lodForEpoch(epoch, train, layerCount);
  const firstHalf = epoch % train.epochsPerLod < Math.floor(train.epochsPerLod / 2);
  // `epoch // EPOCHS_PER_LOD == self.lod > 0` is a chained comparison in Python.
  const growing = Math.floor(epoch / train.epochsPerLod) === lod && lod > 0;
  return firstHalf && growing;
}

/**
 * Blend factor of the newest level (get_blend_factor):
 * t = ((epoch % EPL) * epochImages + imagesIntoEpoch) / (EPL // 2 * epochImages),
 * blend = sin(t*pi - pi/2) * 0.5 + 0.5 during a transition, else 1.
 * (The reference divides before checking the transition, which raises for
 * EPOCHS_PER_LOD = 1; we return 1 there.) The result is 0 exactly at the
 * first image of a transition.
 */
export function blendFactor(epoch: number, imagesIntoEpoch: number, s: ScheduleSpec): number {
  if (!inTransition(epoch, s.train, s.layerCount)) return 1;
  const epl = s.train.epochsPerLod;
  const t = ((epoch % epl) * s.epochImages + imagesIntoEpoch) / (Math.floor(epl / 2) * s.epochImages);
  return Math.sin(t * Math.PI - 0.5 * Math.PI) * 0.5 + 0.5;
}

/** Batch size at a level: LOD_2_BATCH[min(lod, len - 1)] (get_batch_size). */
export function batchForLod(lod: number, train: TrainConfig): number {
  return train.lodBatch[Math.min(lod, train.lodBatch.length - 1)];
}

/** Python's bisect.bisect_right: entries of the sorted list <= x. */
function bisectRight(list: readonly number[], x: number): number {
  let n = 0;
  while (n < list.length && list[n] <= x) n++;
  return n;
}

/** Learning rate of both optimizers during `epoch` at `lod` (see the module comment). */
export function learningRate(epoch: number, lod: number, train: TrainConfig): number {
  const base = lod < train.learningRates.length ? train.learningRates[lod] : train.baseLearningRate;
  return base * train.learningDecayRate ** bisectRight(train.learningDecaySteps, epoch);
}

/** kimg between reports at a level (REPORT_FREQ[min(lod, len - 1)]). */
export function reportKimgForLod(lod: number, train: TrainConfig): number {
  return train.reportKimg[Math.min(lod, train.reportKimg.length - 1)];
}

/** kimg between checkpoints at a level (SNAPSHOT_FREQ[min(lod, len - 1)]). */
export function snapshotKimgForLod(lod: number, train: TrainConfig): number {
  return train.snapshotKimg[Math.min(lod, train.snapshotKimg.length - 1)];
}

/**
 * Iterations in an epoch: the reference's data loader yields the epoch in
 * batches and skips the last, incomplete one (`if x_orig.shape[0] !=
 * batch: continue`), so an epoch is floor(epochImages / batch) full batches.
 */
export function iterationsPerEpoch(epochImages: number, batch: number): number {
  return Math.floor(epochImages / batch);
}

/** Everything the trainer needs to know about one position. */
export interface Level {
  epoch: number;
  lod: number;
  resolution: number;
  batch: number;
  inTransition: boolean;
  blend: number;
  lr: number;
}

export function levelAt(epoch: number, imagesIntoEpoch: number, s: ScheduleSpec): Level {
  const lod = lodForEpoch(epoch, s.train, s.layerCount);
  return {
    epoch,
    lod,
    resolution: 4 * 2 ** lod,
    batch: batchForLod(lod, s.train),
    inTransition: inTransition(epoch, s.train, s.layerCount),
    blend: blendFactor(epoch, imagesIntoEpoch, s),
    lr: learningRate(epoch, lod, s.train),
  };
}

/** Images trained on in one epoch (whole batches only). */
export function imagesInEpoch(epoch: number, s: ScheduleSpec): number {
  const b = batchForLod(lodForEpoch(epoch, s.train, s.layerCount), s.train);
  return iterationsPerEpoch(s.epochImages, b) * b;
}

/** Images trained on from the start to the beginning of `epoch` plus `imagesIntoEpoch`. */
export function imagesBefore(epoch: number, imagesIntoEpoch: number, s: ScheduleSpec): number {
  let n = 0;
  for (let e = 0; e < epoch; e++) n += imagesInEpoch(e, s);
  return n + imagesIntoEpoch;
}

/** Images of the whole run (TRAIN_EPOCHS epochs). */
export function totalImages(s: ScheduleSpec): number {
  return imagesBefore(s.train.trainEpochs, 0, s);
}

/** Check that every epoch has at least one full batch (else the reference would loop doing nothing). */
export function checkSchedule(s: ScheduleSpec): void {
  if (!Number.isInteger(s.epochImages) || s.epochImages < 1) throw new AlaeError(`images per epoch must be a positive integer (got ${s.epochImages})`);
  for (let lod = 0; lod < s.layerCount; lod++) {
    const b = batchForLod(lod, s.train);
    if (b > s.epochImages) {
      throw new AlaeError(`the batch at lod ${lod} (${b}) is larger than an epoch (${s.epochImages} images): use more images or a smaller train.lodBatch`);
    }
  }
}
