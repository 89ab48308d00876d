/** Training: the schedule, one iteration, the resumable loop, checkpoints. */
export { Trainer, SAMPLE_Z_SEED } from './trainer.js';
export type { TrainReport, IterationInfo, TrainerCallbacks, SessionOptions, StartOptions, ReferenceOptions, RunResult, StopReason } from './trainer.js';
export { trainIteration, blendReal, lerpAveraged, averagingBeta, drawNoise, MIN_MODEL_BLEND } from './step.js';
export type { TrainState, StepLevel, StepOptions, StepLosses } from './step.js';
export * from './schedule.js';
export { decodeCheckpoint, readCheckpoint, writeCheckpoint, findCheckpoint, checkpointName, CHECKPOINT_DIR, LATEST_FILE } from './checkpoint.js';
export type { CheckpointData, TrainProgress, MetricsRecord, LossSums } from './checkpoint.js';
export { encodeCheckpointFile, CHECKPOINT_FORMAT, type OptimizerSnapshot } from '../io/checkpoint-file.js';
export { readMetrics, repairMetrics, METRICS_FILE } from './metrics.js';
export { writeSampleGrid, sampleRows, gridPixels, SAMPLE_ROWS } from './samples.js';
export { readReferenceStart } from './reference.js';
export { isReferenceCheckpoint } from '../io/open.js';
export type { ReferenceStart } from './reference.js';
export { seededNormals } from './noise.js';
export { LREQAdam } from './lreq-adam.js';
export type { AdamStateArrays } from './lreq-adam.js';
export { lossD, lossG, lossAE, disposeGrads } from './losses.js';
