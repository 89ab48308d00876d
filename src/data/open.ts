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
import type { ImageDataset } from './dataset.js';
import { FolderDataset, type FolderDatasetOptions } from './folder.js';
import { MnistDataset } from './mnist.js';
import { isTfrecordFile, looksLikeTfrecordsSpec, TfrecordsDataset } from './tfrecords.js';

/** Options of openDataset: an image folder's (channels and onProgress apply to every kind of dataset). */
export type OpenDatasetOptions = Pick<FolderDatasetOptions, 'channels' | 'cacheDir' | 'onProgress' | 'resolutions' | 'onDecode' | 'minResolution' | 'recursive'>;

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
