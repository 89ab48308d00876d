/** Measuring a model: held-out MNIST quality, faces kept by reconstructions, and the nearest-neighbour search they use. */
export { nearestNeighbours, type NearestOptions } from './knn.js';
export {
  evaluateMnist,
  EVAL_K,
  CONFIDENT_VOTES,
  MNIST_TARGETS,
  type EvalProgress,
  type EvalRefineOptions,
  type RefinedReport,
  type EvalStage,
  type GeneratedReport,
  type MnistEvalOptions,
  type MnistEvalReport,
} from './mnist.js';
export {
  evaluateFaces,
  type FaceEvalOptions,
  type FaceEvalProgress,
  type FaceEvalReport,
  type FaceEvalRow,
  type FaceEvalStage,
  type FaceMeasures,
} from './faces.js';
