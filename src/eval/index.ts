/** Measuring a model: held-out MNIST quality, and the nearest-neighbour search it is built on. */
export { nearestNeighbours, type NearestOptions } from './knn.js';
export {
  evaluateMnist,
  EVAL_K,
  CONFIDENT_VOTES,
  MNIST_TARGETS,
  type EvalProgress,
  type EvalStage,
  type GeneratedReport,
  type MnistEvalOptions,
  type MnistEvalReport,
} from './mnist.js';
