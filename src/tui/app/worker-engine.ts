/**
 * An Engine whose model lives in a worker thread (model-worker.ts): encode
 * and decode requests go by message, so a forward pass, however long, never
 * blocks the UI thread; the spinner and the keys stay live. An encode or
 * decode cannot be stopped half-way (tfjs ops are not interruptible); the
 * controller ignores results nobody waits for any more. A refinement (many
 * steps) is cancelled in the worker between two steps. dispose()
 * terminates the thread at once, which frees the model with it.
 */
import { Worker } from 'node:worker_threads';
import { AlaeError } from '../../errors.js';
import type { RawImage } from '../../image/image.js';
import type { DecodeRequest, Encoded, Engine, ModelInfo, ModelSource, RefineRequest } from './engine.js';

export type WorkerRequest =
  | { op: 'encode'; id: number; file: string }
  | { op: 'decode'; id: number; styles: Float32Array; seed: number; psi: number }
  | ({ op: 'refine'; id: number } & RefineRequest)
  | { op: 'cancel'; id: number }
  | { op: 'dispose'; id: number };

export type WorkerReply =
  | { type: 'ready'; info: ModelInfo }
  | { type: 'fatal'; message: string }
  | { type: 'encoded'; id: number; faces: Encoded[] }
  | { type: 'decoded'; id: number; image: RawImage }
  | { type: 'refine-step'; id: number; step: number; steps: number }
  | { type: 'refined'; id: number; w: Float32Array }
  | { type: 'disposed'; id: number }
  | { type: 'failed'; id: number; message: string };

interface Pending {
  resolve: (r: WorkerReply) => void;
  reject: (e: Error) => void;
}

export class WorkerEngine implements Engine {
  readonly info: ModelInfo;
  private readonly worker: Worker;
  private pending = new Map<number, Pending>();
  /** Step callbacks of refinements in flight. */
  private steps = new Map<number, (step: number, steps: number) => void>();
  private nextId = 1;
  private dead: Error | null = null;

  private constructor(worker: Worker, info: ModelInfo) {
    this.worker = worker;
    this.info = info;
    worker.on('message', (m: WorkerReply) => {
      if (!('id' in m)) return;
      if (m.type === 'refine-step') return this.steps.get(m.id)?.(m.step, m.steps);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'failed') p.reject(new AlaeError(m.message));
      else p.resolve(m);
    });
    const die = (e: Error) => {
      this.dead ??= e;
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    worker.on('error', (e) => die(new AlaeError(`the model worker failed: ${e.message.split('\n')[0]}`)));
    worker.on('exit', (code) => die(new AlaeError(`the model worker stopped (exit ${code})`)));
  }

  /** Start the worker and open the model there (rejects with the load error). */
  static start(source: ModelSource, workerUrl: URL = new URL('./model-worker.js', import.meta.url)): Promise<WorkerEngine> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(workerUrl, { workerData: { source } });
      const fail = (e: Error) => {
        cleanup();
        void worker.terminate();
        reject(e);
      };
      const onMessage = (m: WorkerReply) => {
        if (m.type === 'ready') {
          cleanup();
          resolve(new WorkerEngine(worker, m.info));
        } else if (m.type === 'fatal') {
          fail(new AlaeError(m.message));
        }
      };
      const onError = (e: Error) => fail(e);
      const onExit = (code: number) => fail(new AlaeError(`the model worker stopped before the model loaded (exit ${code})`));
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  private request(req: WorkerRequest): Promise<WorkerReply> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      this.worker.postMessage(req);
    });
  }

  async encode(file: string): Promise<Encoded[]> {
    const r = await this.request({ op: 'encode', id: this.nextId++, file });
    if (r.type !== 'encoded') throw new AlaeError(`internal: unexpected reply '${r.type}'`);
    return r.faces;
  }

  async decode(req: DecodeRequest): Promise<RawImage> {
    const r = await this.request({ op: 'decode', id: this.nextId++, styles: req.styles, seed: req.seed, psi: req.psi });
    if (r.type !== 'decoded') throw new AlaeError(`internal: unexpected reply '${r.type}'`);
    return r.image;
  }

  async refine(req: RefineRequest, onStep?: (step: number, steps: number) => void, signal?: AbortSignal): Promise<Float32Array> {
    signal?.throwIfAborted();
    const id = this.nextId++;
    const cancel = () => this.worker.postMessage({ op: 'cancel', id } satisfies WorkerRequest);
    if (onStep) this.steps.set(id, onStep);
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      const r = await this.request({ op: 'refine', id, crop: req.crop, seed: req.seed, steps: req.steps });
      if (r.type !== 'refined') throw new AlaeError(`internal: unexpected reply '${r.type}'`);
      return r.w;
    } finally {
      this.steps.delete(id);
      signal?.removeEventListener('abort', cancel);
    }
  }

  async dispose(): Promise<void> {
    this.dead ??= new AlaeError('the model has been closed');
    await this.worker.terminate();
  }
}
