/**
 * The worker thread behind WorkerEngine: it opens the model with the CLI's
 * options (src/cli/support.ts) and answers encode/decode requests one
 * at a time. Its own tfjs instance and backend; the UI thread never waits
 * on a forward pass.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openModel, type CommonValues } from '../../cli/support.js';
import type { Alae } from '../../api/alae.js';
import { decodeOne, encodeOne, infoOf } from './engine.js';
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
    alae = await openModel((workerData as { values: CommonValues }).values, 'largest');
  } catch (e) {
    port.postMessage({ type: 'fatal', message: e instanceof Error ? e.message : String(e) } satisfies WorkerReply);
    return;
  }
  port.postMessage({ type: 'ready', info: infoOf(alae) } satisfies WorkerReply);
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (req: WorkerRequest) => {
    chain = chain.then(async () => {
      try {
        if (req.op === 'encode') {
          const r = await encodeOne(alae, req.file);
          port.postMessage({ type: 'encoded', id: req.id, crop: { ...r.crop, data: own(r.crop.data) }, w: own(r.w) } satisfies WorkerReply);
        } else if (req.op === 'decode') {
          const img = await decodeOne(alae, { styles: req.styles, seed: req.seed, psi: req.psi });
          port.postMessage({ type: 'decoded', id: req.id, image: { ...img, data: own(img.data) } } satisfies WorkerReply);
        } else {
          alae.dispose();
          port.postMessage({ type: 'disposed', id: req.id } satisfies WorkerReply);
          port.close();
        }
      } catch (e) {
        port.postMessage({ type: 'failed', id: req.id, message: message(e) } satisfies WorkerReply);
      }
    });
  });
}

void main();
