/**
 * Model and training configuration: one typed object, one preset table that
 * mirrors the reference's configs/*.yaml, one place (`resolveConfig`) that
 * validates and fills defaults.
 */
import { AlaeError } from '../errors.js';

/** Architecture of the four networks (reference: MODEL.* in defaults.py). */
export interface ModelConfig {
  /** Number of generator/encoder blocks; resolution is 2^(layerCount + 1). */
  layerCount: number;
  /** START_CHANNEL_COUNT: channels of the highest-resolution block. */
  startChannels: number;
  /** MAX_CHANNEL_COUNT: channel cap for all blocks. */
  maxChannels: number;
  /** LATENT_SPACE_SIZE: size of z and w. */
  latentSize: number;
  /** MAPPING_LAYERS of F (D always has 3, as in the reference Model). */
  mappingLayers: number;
  /** Image channels (3 colour, 1 grayscale). */
  channels: number;
  /** TRUNCATIOM_PSI (sic, reference spelling) default 0.7. */
  truncationPsi: number;
  /** TRUNCATIOM_CUTOFF default 8: style slots below it are truncated. */
  truncationCutoff: number;
  /** DLATENT_AVG_BETA default 0.995: tracking rate of the average w. */
  dlatentAvgBeta: number;
  /** STYLE_MIXING_PROB default 0.9. */
  styleMixingProb: number;
}

/** Training schedule (reference: TRAIN.* and DATASET.FLIP_IMAGES). */
export interface TrainConfig {
  /** EPOCHS_PER_LOD: epochs spent at each level of detail. */
  epochsPerLod: number;
  /** TRAIN_EPOCHS: total epochs. */
  trainEpochs: number;
  /** Batch size per level of detail (LOD_2_BATCH_1GPU). */
  lodBatch: number[];
  /** Learning rate per level of detail (LEARNING_RATES). */
  learningRates: number[];
  /** BASE_LEARNING_RATE (used when learningRates is shorter than lods). */
  baseLearningRate: number;
  /** Adam beta2 (ADAM_BETA_1 in the reference, which names betas from 0). */
  adamBeta2: number;
  /** DATASET.FLIP_IMAGES: random horizontal mirror of real images. */
  mirror: boolean;
  /** DATASET.SIZE: images per epoch in the reference (informational). */
  datasetSize: number;
  /** R1 gamma (losses.discriminator_logistic_simple_gp). */
  r1Gamma: number;
  /**
   * LEARNING_DECAY_STEPS: epochs at which the learning rate is multiplied by
   * learningDecayRate (scheduler.py WarmupMultiStepLR; empty in every
   * reference config).
   */
  learningDecaySteps: number[];
  /** LEARNING_DECAY_RATE (gamma of the step decay). */
  learningDecayRate: number;
  /** REPORT_FREQ: kimg between reports (sample grid, metrics line) per lod; the last entry covers higher lods. */
  reportKimg: number[];
  /** SNAPSHOT_FREQ: kimg between checkpoints per lod; the last entry covers higher lods. */
  snapshotKimg: number[];
}

export interface AlaeConfig {
  name: string;
  model: ModelConfig;
  train: TrainConfig;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

const MODEL_DEFAULTS: Omit<ModelConfig, 'layerCount' | 'startChannels' | 'maxChannels' | 'latentSize'> = {
  mappingLayers: 5,
  channels: 3,
  truncationPsi: 0.7,
  truncationCutoff: 8,
  dlatentAvgBeta: 0.995,
  styleMixingProb: 0.9,
};

const TRAIN_DEFAULTS: TrainConfig = {
  epochsPerLod: 15,
  trainEpochs: 110,
  lodBatch: [128, 128, 128, 64, 32, 16],
  learningRates: [0.002],
  baseLearningRate: 0.0015,
  adamBeta2: 0.99,
  mirror: true,
  datasetSize: 70000,
  r1Gamma: 10,
  learningDecaySteps: [],
  learningDecayRate: 0.1,
  // defaults.py of the reference, in kimg.
  reportKimg: [100, 80, 60, 30, 20, 10, 10, 5, 5],
  snapshotKimg: [300, 300, 300, 100, 50, 30, 20, 20, 10],
};

/**
 * Presets mirroring the reference's configs (LOD_2_BATCH_1GPU batches). The
 * `test-*` presets are small enough for unit tests on a 2-core CPU.
 */
export const PRESETS: Record<string, DeepPartial<AlaeConfig>> = {
  ffhq: {
    model: { layerCount: 9, startChannels: 16, maxChannels: 512, latentSize: 512, mappingLayers: 8 },
    train: {
      epochsPerLod: 16, trainEpochs: 300, baseLearningRate: 0.002, datasetSize: 60000,
      lodBatch: [512, 256, 128, 64, 32, 16, 16, 16, 16],
      learningRates: [0.0015, 0.0015, 0.0015, 0.0015, 0.0015, 0.0015, 0.002, 0.003, 0.003],
    },
  },
  'celeba-hq256': {
    model: { layerCount: 7, startChannels: 64, maxChannels: 512, latentSize: 512, mappingLayers: 8 },
    train: {
      epochsPerLod: 30, trainEpochs: 280, baseLearningRate: 0.002, datasetSize: 29000,
      lodBatch: [128, 128, 128, 64, 32, 16, 16],
      learningRates: [0.0015, 0.0015, 0.0015, 0.0015, 0.0015, 0.0015, 0.0015],
    },
  },
  bedroom: {
    model: { layerCount: 7, startChannels: 32, maxChannels: 512, latentSize: 512, mappingLayers: 8 },
    train: {
      epochsPerLod: 2, trainEpochs: 112, baseLearningRate: 0.002, datasetSize: 758260,
      lodBatch: [512, 256, 128, 64, 32, 16, 16],
      learningRates: [0.0015, 0.0015, 0.0015, 0.0015, 0.0015, 0.0015, 0.002],
    },
  },
  celeba: {
    model: { layerCount: 6, startChannels: 64, maxChannels: 256, latentSize: 256, mappingLayers: 8 },
    train: {
      epochsPerLod: 6, trainEpochs: 80, baseLearningRate: 0.002, datasetSize: 182637,
      lodBatch: [128, 128, 128, 64, 32, 16],
      learningRates: [0.0015, 0.0015, 0.0015, 0.0015, 0.0015, 0.0015],
    },
  },
  mnist: {
    model: { layerCount: 4, startChannels: 64, maxChannels: 256, latentSize: 32, mappingLayers: 4, channels: 1 },
    train: {
      epochsPerLod: 10, trainEpochs: 60, baseLearningRate: 0.002, datasetSize: 60000, mirror: false,
      lodBatch: [128, 128, 128, 64],
      learningRates: [0.0015, 0.0015, 0.0015, 0.0015],
    },
  },
  /**
   * The bundled model's configuration (models/default.safetensors): the
   * mnist architecture at a quarter of the channels (16 to 64 instead of 64
   * to 256: about 1/16 of the convolution work) and a short schedule (2
   * epochs of the 9,000 training digits per level, then 32x32 up to epoch
   * 60), so that it trains on a 2-core CPU; its speed against the full mnist
   * preset is in README, "The bundled model".
   */
  'mnist-small': {
    model: { layerCount: 4, startChannels: 16, maxChannels: 64, latentSize: 32, mappingLayers: 4, channels: 1 },
    train: {
      epochsPerLod: 2, trainEpochs: 60, baseLearningRate: 0.0015, datasetSize: 9000, mirror: false,
      lodBatch: [64, 64, 32, 32],
      learningRates: [0.0015, 0.0015, 0.0015, 0.0015],
      reportKimg: [5],
      snapshotKimg: [5],
    },
  },
  /** The reference-vector configuration ../shared/alae-reference/tiny32. */
  'test-tiny32': {
    model: { layerCount: 4, startChannels: 16, maxChannels: 64, latentSize: 32, mappingLayers: 4 },
    train: { epochsPerLod: 1, trainEpochs: 4, lodBatch: [8, 8, 8, 8], learningRates: [0.0015], datasetSize: 64 },
  },
  /** The reference-vector configuration ../shared/alae-reference/fused128. */
  'test-fused128': {
    model: { layerCount: 6, startChannels: 8, maxChannels: 32, latentSize: 24, mappingLayers: 3 },
    train: { epochsPerLod: 1, trainEpochs: 6, lodBatch: [4, 4, 4, 4, 4, 4], learningRates: [0.0015], datasetSize: 16 },
  },
  /** Smallest useful model: 16x16, a few thousand parameters per network. */
  'test-micro': {
    model: { layerCount: 3, startChannels: 8, maxChannels: 16, latentSize: 16, mappingLayers: 2 },
    train: { epochsPerLod: 1, trainEpochs: 3, lodBatch: [8, 8, 8], learningRates: [0.0015], datasetSize: 32 },
  },
};

export const PRESET_NAMES = Object.keys(PRESETS);

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new AlaeError(`invalid config: ${what}`);
}

/**
 * Fill defaults and validate. `base` is a preset name or a partial config;
 * `overrides` are applied on top (e.g. from a --config JSON file).
 */
export function resolveConfig(base: string | DeepPartial<AlaeConfig>, overrides: DeepPartial<AlaeConfig> = {}): AlaeConfig {
  let partial: DeepPartial<AlaeConfig>;
  let name: string;
  if (typeof base === 'string') {
    const preset = PRESETS[base];
    if (!preset) throw new AlaeError(`unknown preset '${base}' (known: ${PRESET_NAMES.join(', ')})`);
    partial = preset;
    name = base;
  } else {
    partial = base;
    name = base.name ?? 'custom';
  }
  const m = { ...MODEL_DEFAULTS, ...partial.model, ...overrides.model } as Partial<ModelConfig>;
  const t = { ...TRAIN_DEFAULTS, ...partial.train, ...overrides.train } as TrainConfig;
  for (const k of ['layerCount', 'startChannels', 'maxChannels', 'latentSize', 'mappingLayers', 'channels'] as const) {
    check(isPositiveInt(m[k]), `model.${k} must be a positive integer (got ${JSON.stringify(m[k])})`);
  }
  const model = m as ModelConfig;
  check(model.layerCount >= 2 && model.layerCount <= 10, `model.layerCount must be in 2..10 (got ${model.layerCount})`);
  check(model.channels === 1 || model.channels === 3, `model.channels must be 1 or 3 (got ${model.channels})`);
  check(model.truncationPsi >= 0 && model.truncationPsi <= 1, 'model.truncationPsi must be in [0, 1]');
  check(Number.isInteger(model.truncationCutoff) && model.truncationCutoff >= 0, 'model.truncationCutoff must be a non-negative integer');
  check(model.dlatentAvgBeta >= 0 && model.dlatentAvgBeta < 1, 'model.dlatentAvgBeta must be in [0, 1)');
  check(model.styleMixingProb >= 0 && model.styleMixingProb <= 1, 'model.styleMixingProb must be in [0, 1]');
  check(isPositiveInt(t.epochsPerLod) && isPositiveInt(t.trainEpochs), 'train.epochsPerLod and train.trainEpochs must be positive integers');
  check(Array.isArray(t.lodBatch) && t.lodBatch.length > 0 && t.lodBatch.every(isPositiveInt), 'train.lodBatch must be a non-empty list of positive integers');
  check(Array.isArray(t.learningRates) && t.learningRates.every((x) => x > 0), 'train.learningRates must be positive numbers');
  check(t.adamBeta2 >= 0 && t.adamBeta2 < 1, 'train.adamBeta2 must be in [0, 1)');
  check(Array.isArray(t.learningDecaySteps) && t.learningDecaySteps.every((x, i, a) => Number.isInteger(x) && x >= 0 && (i === 0 || a[i - 1] <= x)), 'train.learningDecaySteps must be non-decreasing non-negative integers');
  check(typeof t.learningDecayRate === 'number' && t.learningDecayRate > 0, 'train.learningDecayRate must be positive');
  for (const k of ['reportKimg', 'snapshotKimg'] as const) {
    check(Array.isArray(t[k]) && t[k].length > 0 && t[k].every((x) => typeof x === 'number' && x > 0), `train.${k} must be a non-empty list of positive numbers (kimg)`);
  }
  return { name: overrides.name ?? name, model, train: t };
}

/** Output resolution of the full model. */
export function resolutionOf(m: ModelConfig): number {
  return 2 ** (m.layerCount + 1);
}

/** Number of style slots (2 per generator block). */
export function styleCount(m: ModelConfig): number {
  return 2 * m.layerCount;
}

/** Generator block i channels: min(MAX, START * 2^(layerCount-1-i)). */
export function decoderChannels(m: ModelConfig, i: number): number {
  return Math.min(m.maxChannels, m.startChannels * 2 ** (m.layerCount - 1 - i));
}

/** Encoder block i (0 = highest resolution) input and output channels. */
export function encoderChannels(m: ModelConfig, i: number): [number, number] {
  return [Math.min(m.maxChannels, m.startChannels * 2 ** i), Math.min(m.maxChannels, m.startChannels * 2 ** (i + 1))];
}
