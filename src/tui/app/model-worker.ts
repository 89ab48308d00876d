/**
 * The worker thread behind WorkerEngine: it opens the model a ModelSource
 * names (the library's loadModel) and answers encode/decode/refine requests
 * one at a time; a cancel stops a refinement between two of its steps. Its own tfjs instance and backend; the UI thread never waits
 * on a forward pass.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel, type Alae } from '../../api/alae.js';
import { decodeOne, encodeFaces, infoOf, refineOne, type ModelSource } from './engine.js';
import type { WorkerReply, WorkerRequest } from './worker-engine.js';

const port = parentPort!;

function message(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] : String(e);
}

/** Plain copies: a view into a pooled buffer would clone the whole pool. */
function own<T extends Uint8Array | Float32Array>(a: T): T {
  return a.slice() as T;
}

async function main(): Promise<void> {
  let alae: Alae;
  try {
    const { file, options } = (workerData as { source: ModelSource }).source;
    alae = await loadModel(file, options);
  } catch (e) {
    port.postMessage({ type: 'fatal', message: e instanceof Error ? e.message : String(e) } satisfies WorkerReply);
    return;
  }
  port.postMessage({ type: 'ready', info: infoOf(alae) } satisfies WorkerReply);
  let chain: Promise<void> = Promise.resolve();
  // Refinements in flight or queued, by request id: a cancel is handled at once, not after them.
  const aborts = new Map<number, AbortController>();
  port.on('message', (req: WorkerRequest) => {
    if (req.op === 'cancel') {
      aborts.get(req.id)?.abort();
      return;
    }
    const abort = new AbortController();
    if (req.op === 'refine') aborts.set(req.id, abort);
    chain = chain.then(async () => {
      try {
        if (req.op === 'encode') {
          const faces = (await encodeFaces(alae, req.file)).map((f) => ({ ...f, crop: { ...f.crop, data: own(f.crop.data) }, w: own(f.w) }));
          port.postMessage({ type: 'encoded', id: req.id, faces } satisfies WorkerReply);
        } else if (req.op === 'decode') {
          const img = await decodeOne(alae, { styles: req.styles, seed: req.seed, psi: req.psi });
          port.postMessage({ type: 'decoded', id: req.id, image: { ...img, data: own(img.data) } } satisfies WorkerReply);
        } else if (req.op === 'refine') {
          const onStep = (step: number, steps: number) => port.postMessage({ type: 'refine-step', id: req.id, step, steps } satisfies WorkerReply);
          const w = await refineOne(alae, { crop: req.crop, seed: req.seed, steps: req.steps }, onStep, abort.signal);
          port.postMessage({ type: 'refined', id: req.id, w: own(w) } satisfies WorkerReply);
        } else {
          alae.dispose();
          port.postMessage({ type: 'disposed', id: req.id } satisfies WorkerReply);
          port.close();
        }
      } catch (e) {
        port.postMessage({ type: 'failed', id: req.id, message: message(e) } satisfies WorkerReply);
      } finally {
        aborts.delete(req.id);
      }
    });
  });
}

void main();
