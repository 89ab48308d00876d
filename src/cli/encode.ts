/**
 * `alae encode <images|dirs...> --out latents.safetensors|.json [--model M]`:
 * every face of every image to w, streamed batch by batch into the output
 * (constant memory for any number of images), which appears atomically at
 * the end, or at Ctrl-C with the faces done so far. A bad image is named on
 * stderr and skipped; exit status 1 then. With --refine N each batch's w
 * are refined (api/refine.ts) before they are written.
 */
import { parse, UsageError, usageErrors } from './args.js';
import { listImages } from '../image/image.js';
import { checkOutputFile } from '../io/outputs.js';
import { LatentsWriter, latentsFormatOf, type LatentSource } from '../api/latents-file.js';
import { COMMON_OPTIONS, RECURSIVE_OPTION, batchSizeFor, intOption, jobOptions, openModel, summaryLine, usage, withModel } from './support.js';
import { signalExit } from './signals.js';
import { batchRun } from './batch-run.js';
import { REFINE_HELP, REFINE_OPTIONS, describeRefine, refineChoice, refineFaces } from './refining.js';

const USAGE = `usage: alae encode <images|dirs...> --out <latents.safetensors|latents.json> [--model <model>] [--faces all|largest] [--refine N] [--force]
  Finds the faces in each image (or takes each image as an aligned crop with --no-align),
  aligns them as the model's training data was, and writes one w per face.
  .safetensors: tensor w [faces, latent] with the sources in the metadata (alae.sources);
  .json: {latents: [{file, face, box, w}]}. An --out that exists stops the command before any
  work unless --force. Ctrl-C writes the file with the faces encoded so far.
  With --refine N the w written are refined ones (noise of --seed, default 0; the file's metadata
  says how: alae.refine); Ctrl-C drops the refinement in progress at once. A latents file holds
  one w per face, so --space w+ is for reconstruct (or the library's refine()).
  --seed <n>            with --refine: the generator's noise the w are refined under (default 0)
${REFINE_HELP}`;

export async function encodeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, ...RECURSIVE_OPTION, ...REFINE_OPTIONS, out: { type: 'string', short: 'o' }, faces: { type: 'string' }, seed: { type: 'string' } });
  if (values.help || positionals.length === 0 || !values.out) return usage(USAGE, Boolean(values.help), positionals.length === 0 ? 'no images given' : '--out <latents.safetensors|latents.json> is required');
  const o = jobOptions(values);
  const out = values.out;
  usageErrors(() => latentsFormatOf(out));
  const faces = values.faces ?? 'all';
  if (faces !== 'all' && faces !== 'largest') throw new UsageError(`--faces must be all or largest (got '${faces}')`);
  const refining = refineChoice(values);
  if (refining?.space === 'w+') throw new UsageError('a latents file holds one w per face: --space w+ is for alae reconstruct (or the library\'s refine())');
  if (values.seed !== undefined && !refining) throw new UsageError('--seed needs --refine <steps> (encoding draws no noise)');
  const seed = intOption('seed', values.seed, 0, 0);
  const files = await listImages(positionals, { recursive: o.recursive });
  if (files.length === 0) throw new UsageError(`no images in ${positionals.join(', ')}${o.recursive ? '' : ' (subfolders are read with --recursive)'}`);
  await checkOutputFile(out, { overwrite: o.force });

  const alae = await openModel(o, files, faces);
  return withModel(alae, async () => {
    const info = { model: alae.file, config: JSON.stringify(alae.config), align: alae.align, ...(refining ? { refine: JSON.stringify({ ...refining, seed }) } : {}) };
    const writer = await LatentsWriter.open(out, alae.latentSize, info);
    const { progress, failures, onFailure, abort, stop } = batchRun('encode', o.quiet, refining ? 'the file without the batch being refined' : 'the current batch');
    const batchSize = batchSizeFor(alae, o);
    // Inputs done: each one's first face (inputs may repeat a path, so they are counted, not named).
    let done = 0;
    try {
      for await (const b of alae.encodeBatches(files, { onProgress: progress, onFailure, batchSize })) {
        const sources: LatentSource[] = b.faces.map((f) => ({ file: f.source, face: f.face, ...(f.box ? { box: [f.box.x, f.box.y, f.box.width, f.box.height] as [number, number, number, number] } : {}) }));
        let latents = b.latents;
        if (refining && b.faces.length > 0) {
          if (stop.signal) break;
          const r = await refineFaces(alae, b.faces, refining, { seed, batchSize, signal: abort, progress });
          if (!r) break;
          latents = r.latents as typeof latents; // space w (w+ was refused): rows of w
        }
        await writer.append(latents, sources);
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
    const what = refining ? `encoded and refined (${describeRefine(refining)})` : 'encoded';
    process.stdout.write(`${what} ${writer.rows} face${writer.rows === 1 ? '' : 's'} into ${out}; ${summaryLine(done, files.length, failures, 'input', stop.signal !== null)}\n`);
    if (stop.signal) return signalExit(stop.signal);
    return failures.length > 0 ? 1 : 0;
  });
}
