/**
 * Refinement in `alae reconstruct`, `encode` and `eval` (api/refine.ts):
 * the options, parsed and checked before any work by the library's own
 * checks (refineSettings), and a batch of faces refined with progress and
 * Ctrl-C.
 */
import { REFINE_DEFAULTS, refine, refineSettings, type RefineResult, type RefineSpace, type RefineStart } from '../api/refine.js';
import type { Alae } from '../api/alae.js';
import type { FaceCrop } from '../face/faces.js';
import { UsageError, usageErrors } from './args.js';
import { intOption, numberOption, type ProgressRenderer } from './support.js';

export const REFINE_OPTIONS = {
  refine: { type: 'string' as const },
  space: { type: 'string' as const },
  'refine-from': { type: 'string' as const },
  'refine-lr': { type: 'string' as const },
};

export const REFINE_HELP = `  --refine <steps>      also refine each face: Adam on w from E(x), <steps> updates (${REFINE_DEFAULTS.steps} is the
                        default budget) against a pixel plus encoder-statistics loss, the noise fixed
                        by --seed (README "Sharper reconstructions")
  --space w|w+          what is refined: w (default, E's space) or one w per style slot (closer still)
  --refine-from encoder|mean   start at E(x) (default) or at the average w (as GAN projectors do)
  --refine-lr <x>       Adam's learning rate (default ${REFINE_DEFAULTS.lr})`;

export interface RefineChoice {
  steps: number;
  space: RefineSpace;
  from: RefineStart;
  lr: number;
}

type RefineValues = { refine?: string; space?: string; 'refine-from'?: string; 'refine-lr'?: string };

/** The refinement asked for (null: none), checked; the other refine options without --refine are a usage error. */
export function refineChoice(values: RefineValues): RefineChoice | null {
  if (values.refine === undefined) {
    const stray = (['space', 'refine-from', 'refine-lr'] as const).find((k) => values[k] !== undefined);
    if (stray) throw new UsageError(`--${stray} needs --refine <steps>`);
    return null;
  }
  const steps = intOption('refine', values.refine, 0, 0);
  const lr = numberOption('refine-lr', values['refine-lr']);
  const s = usageErrors(() => refineSettings({ steps, space: values.space as RefineSpace | undefined, from: values['refine-from'] as RefineStart | undefined, lr }));
  return { steps: s.steps, space: s.space, from: s.from, lr: s.lr };
}

/** `100 steps in w from E(x), lr 0.2`: what a refinement was. */
export function describeRefine(r: RefineChoice): string {
  return `${r.steps} step${r.steps === 1 ? '' : 's'} in ${r.space} from ${r.from === 'encoder' ? 'E(x)' : 'the average w'}, lr ${r.lr}`;
}

/**
 * Refine a batch of faces, its steps shown as the progress line's detail;
 * null when `signal` (Ctrl-C) stopped it, which leaves nothing behind.
 */
export async function refineFaces(alae: Alae, faces: readonly FaceCrop[], choice: RefineChoice, run: { seed: number; batchSize: number; signal: AbortSignal; progress: ProgressRenderer }): Promise<RefineResult | null> {
  const m = faces.length;
  try {
    return await refine(alae, faces, {
      ...choice,
      seed: run.seed,
      batchSize: run.batchSize,
      signal: run.signal,
      onProgress: (p) => run.progress.detail(`refining ${m} face${m === 1 ? '' : 's'}: step ${p.step}/${p.steps}`),
    });
  } catch (e) {
    if (run.signal.aborted) return null;
    throw e;
  }
}
