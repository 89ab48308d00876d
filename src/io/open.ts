/**
 * One opener for the three kinds of weights file alae reads, told apart by
 * their content, whatever their names: our model file (safetensors with
 * `alae.config`, io/model-file.ts), our training checkpoint (safetensors of
 * format `alae-checkpoint/1`, io/checkpoint-file.ts) and the reference's
 * PyTorch checkpoint (a zip archive or a legacy pickle stream, io/import.ts).
 * `loadModel`, `alae train --init/--resume` and `alae info` all start here.
 */
import { type AlaeConfig } from '../config/config.js';
import { AlaeError } from '../errors.js';
import { FileSource } from './byte-source.js';
import { CHECKPOINT_FORMAT, readCheckpointFile } from './checkpoint-file.js';
import { copyGap, importCheckpoint, type NetworkCopy, type ReferenceContents } from './import.js';
import { readModelFile } from './model-file.js';
import { readSafetensorsMetadata } from './safetensors.js';
import { looksLikeZip } from './zip.js';

export type WeightsFileKind = 'model' | 'checkpoint' | 'reference';

/** The kind of weights file `file` is, from its first bytes (and a safetensors file's header). */
export async function sniffWeightsFile(file: string): Promise<WeightsFileKind> {
  const source = FileSource.open(file, 'the model');
  let head: Uint8Array;
  try {
    head = source.read(0, Math.min(source.size, 9));
  } finally {
    source.close();
  }
  // safetensors: an 8-byte header length, then the JSON header.
  if (head.length === 9 && head[8] === 0x7b) {
    return (await readSafetensorsMetadata(file)).format === CHECKPOINT_FORMAT ? 'checkpoint' : 'model';
  }
  // torch.save: a zip archive (PyTorch >= 1.6), or the legacy stream, which starts with a pickle's PROTO opcode.
  if (looksLikeZip(head) || head[0] === 0x80) return 'reference';
  throw new AlaeError('not a model file: neither safetensors (an alae model or training checkpoint) nor a PyTorch checkpoint', file);
}

/** Is `path` a reference .pth (by content)? False for a folder, a missing path or another kind of file. */
export async function isReferenceCheckpoint(path: string): Promise<boolean> {
  try {
    return (await sniffWeightsFile(path)) === 'reference';
  } catch {
    return false;
  }
}

/** The networks a weights file holds, in our layout, each map with `dlatent_avg.buff`. */
export interface WeightsFile {
  file: string;
  kind: WeightsFileKind;
  config: AlaeConfig;
  /** The averaged networks, what inference uses; null when a reference .pth lacks them. A model file's one set is both. */
  averaged: Map<string, Float32Array> | null;
  /** The trained networks; null when a reference .pth lacks them. */
  trained: Map<string, Float32Array> | null;
  /** What a reference .pth holds (kind 'reference'). */
  reference?: ReferenceContents;
}

/**
 * Read the weights of any of the three kinds. With `preset`, the file's
 * architecture must be that preset's (a reference .pth is then read as it).
 */
export async function openWeights(file: string, opts: { preset?: string } = {}): Promise<WeightsFile> {
  const kind = await sniffWeightsFile(file);
  if (kind === 'reference') {
    const ck = await importCheckpoint(file, { preset: opts.preset });
    return { file, kind, config: ck.config, averaged: ck.averaged, trained: ck.trained, reference: ck.contents };
  }
  let w: WeightsFile;
  if (kind === 'checkpoint') {
    const ck = await readCheckpointFile(file);
    // The reference tracks the average w in the trained model only (see trainer.ts); the averaged networks use it too.
    const averaged = new Map(ck.averaged).set('dlatent_avg.buff', ck.trained.get('dlatent_avg.buff')!);
    w = { file, kind, config: ck.config, averaged, trained: ck.trained };
  } else {
    const m = await readModelFile(file);
    w = { file, kind, config: m.config, averaged: m.arrays, trained: m.arrays };
  }
  if (opts.preset && opts.preset !== w.config.name) throw new AlaeError(`the model is a '${w.config.name}' model, not '${opts.preset}'`, file);
  return w;
}

export interface ChosenWeights {
  arrays: Map<string, Float32Array>;
  copy: NetworkCopy;
  /** What the caller should tell a user about the choice (a fallback, a missing dlatent_avg). */
  notes: string[];
}

/**
 * The networks a job runs with: `which` copy, or by default the averaged one
 * (what the reference infers with), else the trained one. A copy asked for
 * and missing is one line saying what the file holds instead.
 */
export function chooseWeights(w: WeightsFile, which?: NetworkCopy): ChosenWeights {
  const notes: string[] = [];
  const ref = w.reference;
  const other: NetworkCopy = which === 'trained' ? 'averaged' : 'trained';
  let copy: NetworkCopy = which ?? 'averaged';
  if (!w[copy]) {
    const gap = ref ? copyGap(ref, copy) : `holds no ${copy} networks`;
    if (which) throw new AlaeError(`${gap}; it holds the ${other} ones: use those (--weights ${other})`, w.file);
    notes.push(`the file ${gap}: took the trained networks`);
    copy = 'trained';
  }
  if (ref && ref.models.find((m) => m.name === 'dlatent_avg')?.state !== 'present') {
    notes.push("no dlatent_avg in the file: the average w is zeros, as the reference initialises it, so truncation pulls w toward 0 rather than toward the average w");
  }
  return { arrays: w[copy]!, copy, notes };
}
