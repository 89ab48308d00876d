/**
 * A run folder and the rule before training writes into one: no run is
 * ever lost. A folder may take a run when it is new, or holds nothing a
 * run writes, or is the folder of the very run being continued (whose
 * checkpoints then rotate as usual). A folder that holds another run, or
 * files a run would overwrite, is refused before anything is built,
 * naming them.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AlaeError } from '../errors.js';
import { checkWritableFolder } from '../io/outputs.js';
import { CHECKPOINT_DIR, LATEST_FILE } from './checkpoint.js';
import { METRICS_FILE } from './metrics.js';

/** The final averaged model of a run. */
export const MODEL_FILE = 'model.safetensors';
/** Sample grids. */
export const SAMPLES_DIR = 'samples';
/** Every input the run's data left out, with the reason (one `file<TAB>reason` line each). */
export const SKIPPED_FILE = 'skipped-files.txt';
/** What a run writes in its folder. */
export const RUN_FILES: readonly string[] = [LATEST_FILE, CHECKPOINT_DIR, METRICS_FILE, MODEL_FILE, SAMPLES_DIR, SKIPPED_FILE];

/** A folder that a new run (or a run continued from elsewhere) may not write into. */
export class RunFolderTaken extends AlaeError {
  readonly folder: string;
  /** The folder's own run (the checkpoint its `latest` names), when it holds one. */
  readonly checkpoint: string | null;
  /** The run files found there. */
  readonly files: readonly string[];
  constructor(folder: string, checkpoint: string | null, files: readonly string[]) {
    super(
      checkpoint
        ? `holds a run (latest checkpoint ${path.relative(folder, checkpoint) || checkpoint}) that this one would overwrite`
        : `holds ${files.join(', ')}, which a run would overwrite`,
      folder,
    );
    this.folder = folder;
    this.checkpoint = checkpoint;
    this.files = files;
  }
}

/** The run folder a checkpoint belongs to (`<run>/checkpoints/ckpt-*.safetensors`), or null for a file kept elsewhere. */
export function runFolderOf(checkpointFile: string): string | null {
  const dir = path.dirname(path.resolve(checkpointFile));
  return path.basename(dir) === CHECKPOINT_DIR ? path.dirname(dir) : null;
}

/**
 * May a run write into `outDir`? `continuing` is the folder of the run
 * being continued (null for a new run). Throws RunFolderTaken, or an
 * AlaeError when the folder cannot be created or written.
 */
export async function checkRunFolder(outDir: string, continuing: string | null = null): Promise<void> {
  await checkWritableFolder(outDir);
  if (continuing && path.resolve(continuing) === path.resolve(outDir)) return;
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new AlaeError(code === 'ENOTDIR' ? 'is a file, not a run folder' : `cannot list it (${code})`, outDir);
  }
  const found = RUN_FILES.filter((f) => names.includes(f));
  if (found.length === 0) return;
  let checkpoint: string | null = null;
  if (found.includes(LATEST_FILE)) {
    const rel = (await readFile(path.join(outDir, LATEST_FILE), 'utf8').catch(() => '')).trim();
    checkpoint = path.join(outDir, rel || LATEST_FILE);
  }
  throw new RunFolderTaken(outDir, checkpoint, found);
}
