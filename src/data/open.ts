/**
 * `--data <spec>` to a dataset:
 *
 * - `mnist` (any case): the digits of the `mnist` package (mnist.ts). A
 *   folder called "mnist" must be written `./mnist`.
 * - a spec with `%d`/`%02d` placeholders, `*`/`?` wildcards or a file name
 *   containing `.tfrecords`: TFRecords (tfrecords.ts).
 * - an existing folder: image folder (folder.ts).
 * - an existing file: TFRecords when its first record header checks out,
 *   otherwise an error.
 *
 * Errors (AlaeError) name the path: missing path, empty folder, a file that
 * is not TFRecords, no readable images.
 */
import { stat } from 'node:fs/promises';
import { AlaeError } from '../errors.js';
import type { ImageDataset, ProgressFn } from './dataset.js';
import { FolderDataset } from './folder.js';
import { MnistDataset } from './mnist.js';
import { isTfrecordFile, looksLikeTfrecordsSpec, TfrecordsDataset } from './tfrecords.js';

export interface OpenDatasetOptions {
  /** Channels the model takes: 1 or 3. */
  channels: number;
  /** Image folder cache location (default `<folder>/.alae-cache`). */
  cacheDir?: string;
  /** Progress of long steps (decoding a folder, scanning TFRecords). */
  onProgress?: ProgressFn;
  /** Image folder: levels to decode while opening, in one pass. */
  resolutions?: ReadonlyArray<number>;
  /** Image folder: called per source image decode. */
  onDecode?: (file: string) => void;
  /** Image folder: skip (and name in `skipped`) images smaller than this. */
  minResolution?: number;
  /** Image folder: take the images in subfolders too (default: the folder's own). */
  recursive?: boolean;
}

export type DatasetKind = 'mnist' | 'tfrecords' | 'folder';

/** Which kind of dataset `spec` names, by its text alone ('folder' also covers single files). */
export function datasetKind(spec: string): DatasetKind {
  if (spec.trim().toLowerCase() === 'mnist') return 'mnist';
  if (looksLikeTfrecordsSpec(spec) || /[*?]/.test(spec)) return 'tfrecords';
  return 'folder';
}

export async function openDataset(spec: string, opts: OpenDatasetOptions): Promise<ImageDataset> {
  if (opts.channels !== 1 && opts.channels !== 3) {
    throw new AlaeError(`channels must be 1 or 3, got ${opts.channels}`);
  }
  if (!spec || !spec.trim()) throw new AlaeError('no dataset given (--data <folder> | mnist | <file>.tfrecords)');
  const kind = datasetKind(spec);
  if (kind === 'mnist') return new MnistDataset({ channels: opts.channels });
  if (kind === 'tfrecords') return TfrecordsDataset.open(spec, { channels: opts.channels, onProgress: opts.onProgress });
  const st = await stat(spec).catch(() => null);
  if (!st) throw new AlaeError('no such folder or file', spec);
  if (st.isDirectory()) {
    return FolderDataset.open(spec, {
      channels: opts.channels,
      cacheDir: opts.cacheDir,
      onProgress: opts.onProgress,
      resolutions: opts.resolutions,
      onDecode: opts.onDecode,
      minResolution: opts.minResolution,
      recursive: opts.recursive,
    });
  }
  if (st.isFile() && (await isTfrecordFile(spec))) {
    return TfrecordsDataset.open(spec, { channels: opts.channels, onProgress: opts.onProgress });
  }
  throw new AlaeError('not an image folder and not a TFRecord file (--data <folder> | mnist | <file>.tfrecords)', spec);
}
