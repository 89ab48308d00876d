/**
 * `alae encode <images|dirs...> --out latents.safetensors|.json --model M`:
 * every face of every image to w, streamed batch by batch into the output
 * (constant memory for any number of images), which appears atomically at
 * the end. A bad image is named on stderr and skipped; exit status 1 then.
 */
import { parse } from './args.js';
import { AlaeError } from '../errors.js';
import { listImages } from '../image/image.js';
import { LatentsWriter, latentsFormatOf, type LatentSource } from '../api/latents-file.js';
import { COMMON_OPTIONS, checkCommon, openModel, progressRenderer, reportFailures, usage, withModel } from './support.js';
import type { Failure } from '../api/alae.js';

const USAGE = `usage: alae encode <images|dirs...> --out <latents.safetensors|latents.json> --model <model> [--faces all|largest]
  Finds the faces in each image (or takes each image as an aligned crop with --no-align),
  aligns them as the model's training data was, and writes one w per face.
  .safetensors: tensor w [faces, latent] with the sources in the metadata (alae.sources);
  .json: {latents: [{file, face, box, w}]}.`;

export async function encodeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, out: { type: 'string', short: 'o' }, faces: { type: 'string' } });
  if (values.help || positionals.length === 0 || !values.out) return usage(USAGE, Boolean(values.help));
  checkCommon(values);
  latentsFormatOf(values.out);
  const faces = values.faces ?? 'all';
  if (faces !== 'all' && faces !== 'largest') throw new AlaeError(`--faces must be all or largest (got '${faces}')`);
  const files = await listImages(positionals);
  if (files.length === 0) throw new AlaeError('no images found in the given folders');

  const alae = await openModel(values, faces);
  return withModel(alae, async () => {
    const writer = await LatentsWriter.open(values.out!, alae.latentSize, { model: values.model, config: JSON.stringify(alae.config), align: alae.align });
    // Ctrl-C: drop the partial temporary files; the target stays as it was.
    const onSignal = (sig: NodeJS.Signals) => {
      void writer.abort().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const progress = progressRenderer('encode', values.quiet);
    // Failures are named as they happen, not when their batch completes.
    const onFailure = (f: Failure): void => {
      progress.end();
      reportFailures('encode', [f]);
    };
    let failed = 0;
    try {
      for await (const b of alae.encodeBatches(files, { onProgress: progress, onFailure })) {
        failed += b.failures.length;
        const sources: LatentSource[] = b.faces.map((f) => ({ file: f.source, face: f.face, ...(f.box ? { box: [f.box.x, f.box.y, f.box.width, f.box.height] as [number, number, number, number] } : {}) }));
        await writer.append(b.latents, sources);
      }
      progress.end();
      if (writer.rows === 0) {
        await writer.abort();
        process.stderr.write(`alae encode: no face could be encoded; ${values.out} not written\n`);
        return 1;
      }
      await writer.finish();
    } catch (e) {
      await writer.abort();
      throw e;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    process.stdout.write(`encoded ${writer.rows} face${writer.rows === 1 ? '' : 's'} from ${files.length - failed} of ${files.length} image${files.length === 1 ? '' : 's'} into ${values.out}\n`);
    return failed > 0 ? 1 : 0;
  });
}
