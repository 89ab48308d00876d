/** Training: the schedule, one iteration, the resumable loop, checkpoints. */
export { Trainer, SAMPLE_Z_SEED } from './trainer.js';
export type { TrainReport, IterationInfo, TrainerCallbacks, SessionOptions, StartOptions, ResumeOptions, ReferenceOptions, RunResult, StopReason } from './trainer.js';
export { planRun, openRunData, checkSchedulePast, continueWithSchedule, readInitWeights, sameArchitecture, SCHEDULE_KEYS } from './run-plan.js';
export type { RunRequest, RunPlan, InitWeights } from './run-plan.js';
export { checkRunFolder, runFolderOf, RunFolderTaken, RUN_FILES, MODEL_FILE, SAMPLES_DIR, SKIPPED_FILE } from './run-folder.js';
export { trainIteration, blendReal, lerpAveraged, averagingBeta, drawNoise, MIN_MODEL_BLEND } from './step.js';
export type { TrainState, StepLevel, StepOptions, StepLosses } from './step.js';
export * from './schedule.js';
export { encodeCheckpoint, decodeCheckpoint, readCheckpoint, writeCheckpoint, findCheckpoint, checkpointName, CHECKPOINT_FORMAT, CHECKPOINT_DIR, LATEST_FILE } from './checkpoint.js';
export type { CheckpointData, TrainProgress, MetricsRecord, OptimizerSnapshot, LossSums } from './checkpoint.js';
export { readMetrics, repairMetrics, METRICS_FILE } from './metrics.js';
export { writeSampleGrid, sampleRows, gridPixels, SAMPLE_ROWS } from './samples.js';
export { readReferenceStart, isReferenceCheckpoint } from './reference.js';
export type { ReferenceStart } from './reference.js';
export { seededNormals } from './noise.js';
export { LREQAdam } from './lreq-adam.js';
export type { AdamStateArrays } from './lreq-adam.js';
export { lossD, lossG, lossAE, disposeGrads } from './losses.js';
