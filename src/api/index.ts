/**
 * The alae library API: load a model, then encode faces to w, decode w or
 * styles to images, reconstruct, mix styles, generate from seeds,
 * interpolate and edit in W. Images in and out as paths, encoded bytes or
 * raw pixels; latents as plain Float32Arrays.
 */
export { Alae, createModel, loadModel, loadDirection, defaultAlign, zFromSeed } from './alae.js';
export type {
  ImageDecodeOptions,
  EncodedBatch,
  EncodeResult,
  Failure,
  GenerateOptions,
  ImageJobOptions,
  LoadModelOptions,
  JobProgress,
  JobProgressFn,
  ReconstructBatch,
  Reconstruction,
  ReconstructResult,
  Truncation,
} from './alae.js';
export { refine, REFINE_DEFAULTS } from './refine.js';
export type { RefineOptions, RefineProgress, RefineResult, RefineSpace, RefineStart } from './refine.js';
export type { RefineLossWeights } from './refine-loss.js';
export {
  STYLE_LEVEL_NAMES,
  asStyles,
  broadcastStyles,
  concatLatents,
  editLatents,
  interpolateLatents,
  levelRange,
  levelRanges,
  styleLevels,
  makeLatents,
  mixStyles,
  parseLevel,
  rowOf,
  selectRows,
} from './latents.js';
export type { Latents, LevelSpec, StyleLevel, Styles } from './latents.js';
export { LatentsWriter, readLatents, latentsFormatOf, LATENTS_FORMAT } from './latents-file.js';
export type { LatentSource, LatentsFileInfo, LatentsFormat } from './latents-file.js';
export { encodePng, writePng, readRgb, tile, listImages } from '../image/image.js';
export type { ImageInput, RawImage, TileOptions } from '../image/image.js';
export { writeImage, encodeImage, imageFormatOf, OUTPUT_IMAGE_EXTENSIONS } from '../image/write-image.js';
export type { ImageFormat } from '../image/write-image.js';
export { checkOutputFile, checkOutputFolder, OutputExists } from '../io/outputs.js';
export type { OutputCheckOptions } from '../io/outputs.js';
export { FaceDetector, alignFace, faceQuad, extractFaces } from '../face/index.js';
export type { AlignChoice, AlignMode, DetectedFace, DetectOptions, FaceBox, FaceCrop, FaceSelection, Point } from '../face/index.js';
