/**
 * A fake Engine for the component tests: no model, instant (or held)
 * answers. encode gives each file a w from its name; decode paints the
 * image a colour computed from the styles, so a test can tell which w went
 * into which slots. Files whose name contains "noface" fail like a photo
 * without a face; "group" photos hold three faces (the middle one the
 * largest), each with its own w. refine takes 3 steps (held after each
 * while `hold`, cancellable) and gives w = the crop's red + 10.
 */
import { AlaeError } from '../../src/errors.js';
import type { RawImage } from '../../src/image/image.js';
import type { DecodeRequest, Encoded, Engine, ModelInfo, RefineRequest } from '../../src/tui/app/engine.js';

export const FAKE_SIZE = 4; // latent size

/** w of a file: [k, k, k, k] with k = 1 + (sum of char codes % 50). */
export function fakeW(file: string): Float32Array {
  let k = 0;
  for (const ch of file) k += ch.charCodeAt(0);
  return new Float32Array(FAKE_SIZE).fill(1 + (k % 50));
}

function solid(size: number, r: number, g: number, b: number): RawImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) data.set([r, g, b], 3 * i);
  return { data, width: size, height: size, channels: 3 };
}

/** The colour decode paints: red from slot 0's style, green from the last slot's, blue from the seed and psi. */
export function fakeColour(styles: Float32Array, slots: number, seed: number, psi: number): [number, number, number] {
  return [Math.round(styles[0] * 5) % 256, Math.round(styles[(slots - 1) * FAKE_SIZE] * 5) % 256, (seed * 10 + Math.round(psi * 10)) % 256];
}

export interface Call {
  op: 'encode' | 'decode' | 'refine';
  file?: string;
  seed?: number;
  psi?: number;
}

export class FakeEngine implements Engine {
  readonly info: ModelInfo;
  calls: Call[] = [];
  /** When set, requests wait until release() is called. */
  hold = false;
  private held: (() => void)[] = [];
  disposed = false;

  constructor(styleSlots = 8, resolution = 16) {
    this.info = { file: '/models/fake.safetensors', name: 'fake', backend: 'fake', resolution, channels: 3, styleSlots, latentSize: FAKE_SIZE, align: 'none' };
  }

  private async gate(): Promise<void> {
    if (!this.hold) return;
    await new Promise<void>((resolve) => this.held.push(resolve));
  }

  /** Let every held request go on. */
  release(): void {
    const h = this.held;
    this.held = [];
    h.forEach((f) => f());
  }

  get pending(): number {
    return this.held.length;
  }

  async encode(file: string): Promise<Encoded[]> {
    this.calls.push({ op: 'encode', file });
    await this.gate();
    if (file.includes('noface')) throw new AlaeError('no face found', file);
    const faces = file.includes('group') ? [0, 1, 2] : [0];
    return faces.map((k) => {
      const w = fakeW(faces.length > 1 ? `${file}#${k}` : file);
      return { crop: solid(this.info.resolution, w[0], 100, 100), w, area: k === 1 ? 900 : 400 };
    });
  }

  async decode(req: DecodeRequest): Promise<RawImage> {
    this.calls.push({ op: 'decode', seed: req.seed, psi: req.psi });
    await this.gate();
    const [r, g, b] = fakeColour(req.styles, this.info.styleSlots, req.seed, req.psi);
    return solid(this.info.resolution, r, g, b);
  }

  async refine(req: RefineRequest, onStep?: (step: number, steps: number) => void, signal?: AbortSignal): Promise<Float32Array> {
    this.calls.push({ op: 'refine', seed: req.seed });
    const steps = req.steps ?? 3;
    for (let step = 1; step <= steps; step++) {
      signal?.throwIfAborted();
      onStep?.(step, steps);
      await new Promise<void>((resolve, reject) => {
        if (!this.hold) return resolve();
        this.held.push(resolve);
        signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    }
    return new Float32Array(FAKE_SIZE).fill(req.crop.data[0] + 10);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
