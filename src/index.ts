/**
 * alae: StyleALAE (Adversarial Latent Autoencoders, Pidhorskyi et al., CVPR
 * 2020) on TensorFlow.js for Node.js. The core: configs and presets, the
 * four networks, reference checkpoint import, our model files, backends.
 */
export { tf } from './tf.js';
export { AlaeError } from './errors.js';
export { type AlaeConfig, type ModelConfig, type TrainConfig, PRESETS, PRESET_NAMES, resolveConfig, resolutionOf } from './config/config.js';
export { AlaeModel, type DecodeOptions, type EncodeOptions } from './model/alae.js';
export { type NoiseMaps, noiseShape } from './model/generator.js';
export type { ParamSpec, NetworkName } from './model/lreq.js';
export { paramSpecs, countParams } from './model/params.js';
export { BACKENDS, type BackendName, type BackendRequest, useBackend, activeBackend, requestedBackend } from './backend/backend.js';
export { importCheckpoint, readReferenceContents, type ReferenceCheckpoint, type ReferenceContents, type NetworkCopy } from './io/import.js';
export { openWeights, chooseWeights, sniffWeightsFile, type WeightsFile, type WeightsFileKind } from './io/open.js';
export { saveModel, loadModelFile, readModelFile, encodeModelFile } from './io/model-file.js';
export { runParity, type CaseResult } from './parity/parity.js';
export { Rng } from './util/random.js';

// The jobs: faces in the wild, encode, decode, reconstruct, mix, generate, interpolate, edit.
export * from './api/index.js';

// Measuring a model on held-out data (alae eval).
export * from './eval/index.js';

// Training, as `alae train` does it: the run plan (resume rules, the run folder), its data, the trainer.
export { Trainer, planRun, openRunData, checkRunFolder, RunFolderTaken, findCheckpoint, readCheckpoint } from './train/index.js';
export type { RunRequest, RunPlan, SessionOptions, StartOptions, ResumeOptions, ReferenceOptions, RunResult, TrainReport, IterationInfo } from './train/index.js';
export { openDataset, type OpenDatasetOptions } from './data/open.js';
export type { ImageDataset } from './data/dataset.js';
