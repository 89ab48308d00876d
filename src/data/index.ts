/** The trainer's data pipeline: datasets (folder, MNIST, TFRecords) and the batch loader. */
export type { ImageDataset, ProgressFn, SkippedItem } from './dataset.js';
export { openDataset, datasetKind } from './open.js';
export type { OpenDatasetOptions, DatasetKind } from './open.js';
export { FolderDataset, fallbackCacheDir } from './folder.js';
export type { FolderDatasetOptions } from './folder.js';
export { MnistDataset, mnistSplit, mnistCounts, MNIST_SPLIT_SEED, MNIST_TEST_SIZE, MNIST_RESOLUTION } from './mnist.js';
export { TfrecordsDataset, resolveTfrecordFiles, isTfrecordFile } from './tfrecords.js';
export type { TfrecordsDatasetOptions } from './tfrecords.js';
export { BatchLoader, toFloatImage } from './loader.js';
export type { Batch, BatchLoaderOptions, LoaderState } from './loader.js';
export { avgPool2x2, boxDownscale, blockMean, centerCropSquare, convertChannels, chwToHwc } from './image.js';
export { crc32c, maskCrc, maskedCrc32c } from './crc32c.js';
export { parseExample } from './example.js';
export type { ExampleFeature } from './example.js';
