/**
 * What the TUI needs from a model, and nothing else: encode one image (each
 * of its faces) to w, decode one row of styles with a noise seed and a
 * truncation, and refine one face's w (api/refine.ts). The UI never touches the model; the controller calls an
 * Engine, which is one of:
 *   - WorkerEngine (worker-engine.ts, what `alae tui` uses): the model
 *     lives in a worker thread, so encoding and decoding never block the
 *     UI's event loop;
 *   - InProcessEngine (here): the model in this thread. tfjs on the
 *     cpu/native backends runs each op synchronously, so a forward pass
 *     stalls the event loop for its duration; the engine yields to the
 *     event loop before and after every step (read/align, encode, decode)
 *     so the spinner ticks and keys are read between them. Used by tests
 *     and by `alae tui --no-worker`.
 *   - a fake in tests.
 */
import type { Alae, LoadModelOptions } from '../../api/alae.js';
import type { RawImage } from '../../image/image.js';
import { AlaeError } from '../../errors.js';
import { refine } from '../../api/refine.js';
import { yieldToLoop } from '../../util/yield-to-loop.js';

export interface ModelInfo {
  /** The model file (or a description of the model). */
  file: string;
  /** Preset or config name. */
  name: string;
  backend: string;
  resolution: number;
  channels: number;
  styleSlots: number;
  latentSize: number;
  /** Alignment of image inputs: ffhq, celeba or none. */
  align: string;
}

/** Which model the TUI opens, and how (plain data: it is sent to the worker thread). */
export interface ModelSource {
  file: string;
  options: LoadModelOptions;
}

/** One face of an image. */
export interface Encoded {
  /** The (aligned) crop the model saw, at its resolution. */
  crop: RawImage;
  /** w, latentSize values. */
  w: Float32Array;
  /** Its size in the photo (the detector box's area in pixels; the whole image without alignment). */
  area: number;
}

export interface DecodeRequest {
  /** One row of styles: styleSlots x latentSize values. */
  styles: Float32Array;
  seed: number;
  /** Truncation toward the average w: 1 = none. */
  psi: number;
}

export interface RefineRequest {
  /** The crop to fit (an Encoded's: refinement starts at E(crop)). */
  crop: RawImage;
  /** The noise the w is refined under. */
  seed: number;
  /** Default: the library's (REFINE_DEFAULTS.steps). */
  steps?: number;
}

export interface Engine {
  readonly info: ModelInfo;
  /** Every face of an image file, left to right (rejects with the reason when there is none). */
  encode(file: string): Promise<Encoded[]>;
  decode(req: DecodeRequest): Promise<RawImage>;
  /** A refined w (api/refine.ts, space w); `onStep` after each step; `signal` stops it (rejects). */
  refine(req: RefineRequest, onStep?: (step: number, steps: number) => void, signal?: AbortSignal): Promise<Float32Array>;
  dispose(): Promise<void>;
}

export function infoOf(alae: Alae): ModelInfo {
  return {
    file: alae.file,
    name: alae.config.name,
    backend: alae.backend,
    resolution: alae.resolution,
    channels: alae.channels,
    styleSlots: alae.styleSlots,
    latentSize: alae.latentSize,
    align: alae.align,
  };
}


/** Encode and decode with an Alae in this thread, one step at a time. */
export class InProcessEngine implements Engine {
  readonly info: ModelInfo;
  private readonly alae: Alae;
  private readonly owned: boolean;
  private queue: Promise<unknown> = Promise.resolve();

  /** `owned`: dispose the model with the engine. */
  constructor(alae: Alae, owned = true) {
    this.alae = alae;
    this.owned = owned;
    this.info = infoOf(alae);
  }

  /** One job at a time, in order. */
  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      await yieldToLoop();
      try {
        return await job();
      } finally {
        await yieldToLoop();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  encode(file: string): Promise<Encoded[]> {
    return this.serial(() => encodeFaces(this.alae, file));
  }

  decode(req: DecodeRequest): Promise<RawImage> {
    return this.serial(() => decodeOne(this.alae, req));
  }

  refine(req: RefineRequest, onStep?: (step: number, steps: number) => void, signal?: AbortSignal): Promise<Float32Array> {
    return this.serial(() => refineOne(this.alae, req, onStep, signal));
  }

  async dispose(): Promise<void> {
    await this.queue;
    if (this.owned) this.alae.dispose();
  }
}

/** Every face of an image (reading order, as the library numbers them). */
export async function encodeFaces(alae: Alae, file: string): Promise<Encoded[]> {
  const r = await alae.encode([file], { faces: 'all', throwOnError: true });
  if (r.latents.count === 0) throw new AlaeError('no face found', file);
  const size = alae.latentSize;
  return r.faces.map((f, i) => ({
    crop: f.image,
    w: r.latents.data.slice(i * size, (i + 1) * size),
    area: f.box ? f.box.width * f.box.height : f.image.width * f.image.height,
  }));
}

export async function decodeOne(alae: Alae, req: DecodeRequest): Promise<RawImage> {
  const { styleSlots: slots, latentSize: size } = alae;
  if (req.styles.length !== slots * size) throw new AlaeError(`internal: styles of ${req.styles.length} values, the model takes ${slots} x ${size}`);
  const truncation = req.psi < 1 ? { psi: req.psi } : undefined;
  const [img] = await alae.decode({ kind: 'styles', count: 1, slots, size, data: req.styles }, { seed: req.seed, truncation });
  return img;
}

/** Refine one crop's w (refine yields to the event loop between steps, so a cancel gets in). */
export async function refineOne(alae: Alae, req: RefineRequest, onStep?: (step: number, steps: number) => void, signal?: AbortSignal): Promise<Float32Array> {
  const r = await refine(alae, [req.crop], { steps: req.steps, seed: req.seed, space: 'w', signal, onProgress: (p) => onStep?.(p.step, p.steps) });
  return r.latents.data;
}
