/**
 * `alae encode <images|dirs...> --out latents.safetensors|.json [--model M]`:
 * every face of every image to w, streamed batch by batch into the output
 * (constant memory for any number of images), which appears atomically at
 * the end, or at Ctrl-C with the faces done so far. A bad image is named on
 * stderr and skipped; exit status 1 then.
 */
import { parse, UsageError, usageErrors } from './args.js';
import { listImages } from '../image/image.js';
import { checkOutputFile } from '../io/outputs.js';
import { LatentsWriter, latentsFormatOf, type LatentSource } from '../api/latents-file.js';
import { COMMON_OPTIONS, RECURSIVE_OPTION, batchSizeFor, jobOptions, openModel, progressRenderer, reportFailures, summaryLine, usage, withModel } from './support.js';
import { signalExit, stopNotice, stopOnSignal } from './signals.js';
import type { Failure } from '../api/alae.js';

const USAGE = `usage: alae encode <images|dirs...> --out <latents.safetensors|latents.json> [--model <model>] [--faces all|largest] [--force]
  Finds the faces in each image (or takes each image as an aligned crop with --no-align),
  aligns them as the model's training data was, and writes one w per face.
  .safetensors: tensor w [faces, latent] with the sources in the metadata (alae.sources);
  .json: {latents: [{file, face, box, w}]}. An --out that exists stops the command before any
  work unless --force. Ctrl-C writes the file with the faces encoded so far.`;

export async function encodeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, ...RECURSIVE_OPTION, out: { type: 'string', short: 'o' }, faces: { type: 'string' } });
  if (values.help || positionals.length === 0 || !values.out) return usage(USAGE, Boolean(values.help), positionals.length === 0 ? 'no images given' : '--out <latents.safetensors|latents.json> is required');
  const o = jobOptions(values);
  const out = values.out;
  usageErrors(() => latentsFormatOf(out));
  const faces = values.faces ?? 'all';
  if (faces !== 'all' && faces !== 'largest') throw new UsageError(`--faces must be all or largest (got '${faces}')`);
  const files = await listImages(positionals, { recursive: o.recursive });
  if (files.length === 0) throw new UsageError(`no images in ${positionals.join(', ')}${o.recursive ? '' : ' (subfolders are read with --recursive)'}`);
  await checkOutputFile(out, { overwrite: o.force });

  const alae = await openModel(o, files, faces);
  return withModel(alae, async () => {
    const writer = await LatentsWriter.open(out, alae.latentSize, { model: alae.file, config: JSON.stringify(alae.config), align: alae.align });
    const progress = progressRenderer('encode', o.quiet);
    const failures: Failure[] = [];
    // Failures are named as they happen, not when their batch completes.
    const onFailure = (f: Failure): void => {
      progress.end();
      reportFailures('encode', [f]);
      failures.push(f);
    };
    const stop = stopOnSignal(stopNotice('encode'));
    // Inputs done: each one's first face (inputs may repeat a path, so they are counted, not named).
    let done = 0;
    try {
      for await (const b of alae.encodeBatches(files, { onProgress: progress, onFailure, batchSize: batchSizeFor(alae, o) })) {
        const sources: LatentSource[] = b.faces.map((f) => ({ file: f.source, face: f.face, ...(f.box ? { box: [f.box.x, f.box.y, f.box.width, f.box.height] as [number, number, number, number] } : {}) }));
        await writer.append(b.latents, sources);
        done += b.faces.filter((f) => f.face === 0).length;
        if (b.faces.length) progress.faces(writer.rows, b.faces.at(-1)!.source);
        if (stop.signal) break;
      }
      progress.end();
      if (writer.rows === 0) {
        await writer.abort();
        process.stdout.write(`nothing written to ${out}; ${summaryLine(0, files.length, failures, 'input', stop.signal !== null)}\n`);
        return stop.signal ? signalExit(stop.signal) : 1;
      }
      await writer.finish();
    } catch (e) {
      await writer.abort();
      throw e;
    } finally {
      stop.release();
    }
    process.stdout.write(`encoded ${writer.rows} face${writer.rows === 1 ? '' : 's'} into ${out}; ${summaryLine(done, files.length, failures, 'input', stop.signal !== null)}\n`);
    if (stop.signal) return signalExit(stop.signal);
    return failures.length > 0 ? 1 : 0;
  });
}
