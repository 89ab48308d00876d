/**
 * Latents files, written as a stream so `alae encode` runs in constant
 * memory over any number of images, and atomically so a reader never sees
 * a partial file (a crash or Ctrl-C leaves the previous file, or none):
 *
 * - `.safetensors`: one F32 tensor `w` [N, latent]; metadata `format`
 *   (alae-latents/1), `alae.sources` (JSON list of {file, face, box}),
 *   `alae.model`, `alae.config`, `alae.align`, `alae.refine` (refined rows). Rows are appended to a hidden
 *   scratch file; `finish()` writes header + rows atomically to the target
 *   (util/atomic.ts) and removes the scratch file.
 * - `.json`: {format, model, latentSize, align, [refine,] latents: [{file, face, box, w}]},
 *   streamed straight into the target's atomic temporary file, committed on finish().
 */
import { open, readFile, mkdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { AlaeError } from '../errors.js';
import { AtomicFile } from '../util/atomic.js';
import { f32, readSafetensors } from '../io/safetensors.js';
import type { Latents } from './latents.js';

export const LATENTS_FORMAT = 'alae-latents/1';

/** Where a row came from. */
export interface LatentSource {
  file: string;
  face: number;
  /** Detector box [x, y, width, height] in the source image, when faces were detected. */
  box?: [number, number, number, number];
}

export interface LatentsFileInfo {
  /** Model file the latents were made with. */
  model?: string;
  /** Its config (JSON), so a reader can tell which model the w belong to. */
  config?: string;
  align?: string;
  /** How the rows were refined (JSON of steps, space, from, lr, seed), when they were (`alae encode --refine`). */
  refine?: string;
}

export type LatentsFormat = 'safetensors' | 'json';

/** The format a file name asks for (by extension). */
export function latentsFormatOf(file: string): LatentsFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.safetensors') return 'safetensors';
  if (ext === '.json') return 'json';
  throw new AlaeError('latents are written as .safetensors or .json (choose one by the file extension)', file);
}

/** float32 values as the shortest decimal that reads back as the same float32 (9 significant digits suffice). */
function f32Text(v: number): string {
  if (!Number.isFinite(v)) throw new AlaeError(`cannot write a non-finite latent value (${v}) to JSON`);
  return String(Number(v.toPrecision(9)));
}

export class LatentsWriter {
  readonly file: string;
  readonly format: LatentsFormat;
  readonly size: number;
  private readonly info: LatentsFileInfo;
  /** JSON: the target's atomic temporary file; safetensors: the scratch file of rows (never committed). */
  private sink: AtomicFile | null;
  private count = 0;
  private sources: LatentSource[] = [];
  private done = false;

  private constructor(file: string, format: LatentsFormat, size: number, info: LatentsFileInfo, sink: AtomicFile) {
    this.file = file;
    this.format = format;
    this.size = size;
    this.info = info;
    this.sink = sink;
  }

  /** Start a latents file of rows of `size` (the format by extension). Nothing appears at `file` before finish(). */
  static async open(file: string, size: number, info: LatentsFileInfo = {}): Promise<LatentsWriter> {
    const format = latentsFormatOf(file);
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const sink = await AtomicFile.open(file);
    const w = new LatentsWriter(file, format, size, info, sink);
    if (format === 'json') {
      const head = {
        format: LATENTS_FORMAT,
        model: info.model ?? null,
        align: info.align ?? null,
        latentSize: size,
        config: info.config ? (JSON.parse(info.config) as unknown) : null,
        ...(info.refine ? { refine: JSON.parse(info.refine) as unknown } : {}),
      };
      await sink.handle.write(`${JSON.stringify(head).slice(0, -1)},"latents":[`);
    }
    return w;
  }

  /** Append rows (`latents.count` of them, with their sources). */
  async append(latents: Latents, sources: readonly LatentSource[]): Promise<void> {
    if (!this.sink || this.done) throw new AlaeError('internal: append after finish/abort', this.file);
    if (latents.size !== this.size) throw new AlaeError(`internal: rows of ${latents.size}, file has ${this.size}`, this.file);
    if (sources.length !== latents.count) throw new AlaeError(`internal: ${latents.count} rows with ${sources.length} sources`, this.file);
    if (latents.count === 0) return;
    if (this.format === 'safetensors') {
      const bytes = new Uint8Array(latents.data.buffer, latents.data.byteOffset, latents.count * this.size * 4);
      await this.sink.handle.write(Buffer.from(bytes.slice()));
    } else {
      const parts: string[] = [];
      for (let i = 0; i < latents.count; i++) {
        const row = Array.from(latents.data.subarray(i * this.size, (i + 1) * this.size), f32Text).join(',');
        const s = sources[i];
        parts.push(`${this.count + i === 0 ? '' : ','}\n{"file":${JSON.stringify(s.file)},"face":${s.face}${s.box ? `,"box":[${s.box.map((v) => Number(v.toFixed(2))).join(',')}]` : ''},"w":[${row}]}`);
      }
      await this.sink.handle.write(parts.join(''));
    }
    this.count += latents.count;
    if (this.format === 'safetensors') this.sources.push(...sources);
  }

  get rows(): number {
    return this.count;
  }

  /** Complete the file and move it into place. */
  async finish(): Promise<void> {
    if (!this.sink || this.done) throw new AlaeError('internal: finish twice', this.file);
    this.done = true;
    const sink = this.sink;
    this.sink = null;
    if (this.format === 'json') {
      try {
        await sink.handle.write('\n]}\n');
      } catch (e) {
        await sink.abort();
        throw e;
      }
      await sink.commit();
      return;
    }
    try {
      await this.assembleSafetensors(sink.tempPath);
    } finally {
      await sink.abort();
    }
  }

  private header(): Uint8Array {
    const meta: Record<string, string> = { format: LATENTS_FORMAT, 'alae.sources': JSON.stringify(this.sources) };
    if (this.info.model) meta['alae.model'] = this.info.model;
    if (this.info.config) meta['alae.config'] = this.info.config;
    if (this.info.align) meta['alae.align'] = this.info.align;
    if (this.info.refine) meta['alae.refine'] = this.info.refine;
    const keys = Object.keys(meta).sort();
    const metaText = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(meta[k])}`).join(',');
    const bytes = this.count * this.size * 4;
    let text = `{"__metadata__":{${metaText}},"w":{"dtype":"F32","shape":[${this.count},${this.size}],"data_offsets":[0,${bytes}]}}`;
    const len = Buffer.byteLength(text, 'utf8');
    text += ' '.repeat((8 - (len % 8)) % 8); // rows start 8-aligned, as the safetensors writer does
    const hb = Buffer.from(text, 'utf8');
    const out = new Uint8Array(8 + hb.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
    out.set(hb, 8);
    return out;
  }

  /** header + the rows file, copied in chunks into the target's atomic temporary file, then committed. */
  private async assembleSafetensors(rowsPath: string): Promise<void> {
    const out = await AtomicFile.open(this.file);
    let rows: FileHandle | null = null;
    try {
      await out.handle.write(this.header());
      rows = await open(rowsPath, 'r');
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const { bytesRead } = await rows.read(buf, 0, buf.length);
        if (bytesRead === 0) break;
        await out.handle.write(buf.subarray(0, bytesRead));
      }
    } catch (e) {
      await out.abort();
      throw e;
    } finally {
      await rows?.close().catch(() => undefined);
    }
    await out.commit();
  }

  /** Drop everything written so far (the target is left as it was). */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.sink?.abort();
    this.sink = null;
  }
}

/** Read a latents file written by LatentsWriter (.safetensors or .json). */
export async function readLatents(file: string): Promise<{ latents: Latents; sources: LatentSource[]; info: LatentsFileInfo }> {
  const format = latentsFormatOf(file);
  if (format === 'safetensors') {
    const { tensors, metadata } = await readSafetensors(file);
    if (metadata.format !== LATENTS_FORMAT) throw new AlaeError(`not an alae latents file (format '${metadata.format ?? 'none'}')`, file);
    const w = tensors.get('w');
    if (!w || w.shape.length !== 2) throw new AlaeError('no 2-D tensor w in the file', file);
    let sources: LatentSource[];
    try {
      sources = JSON.parse(metadata['alae.sources'] ?? '[]') as LatentSource[];
    } catch {
      throw new AlaeError('bad alae.sources metadata', file);
    }
    return { latents: { kind: 'w', count: w.shape[0], size: w.shape[1], data: f32(w) }, sources, info: { model: metadata['alae.model'], config: metadata['alae.config'], align: metadata['alae.align'], refine: metadata['alae.refine'] } };
  }
  let doc: { format?: string; model?: string | null; align?: string | null; latentSize?: number; config?: unknown; refine?: unknown; latents?: { file: string; face: number; box?: [number, number, number, number]; w: number[] }[] };
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as typeof doc;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AlaeError(code ? `cannot read file (${code})` : `not valid JSON (${(e as Error).message})`, file);
  }
  if (doc.format !== LATENTS_FORMAT || !Array.isArray(doc.latents) || typeof doc.latentSize !== 'number') throw new AlaeError('not an alae latents file', file);
  const size = doc.latentSize;
  const data = new Float32Array(doc.latents.length * size);
  doc.latents.forEach((e, i) => {
    if (!Array.isArray(e.w) || e.w.length !== size) throw new AlaeError(`entry ${i} has ${Array.isArray(e.w) ? e.w.length : 'no'} values, expected ${size}`, file);
    data.set(e.w, i * size);
  });
  return {
    latents: { kind: 'w', count: doc.latents.length, size, data },
    sources: doc.latents.map((e) => ({ file: e.file, face: e.face, ...(e.box ? { box: e.box } : {}) })),
    info: { model: doc.model ?? undefined, align: doc.align ?? undefined, config: doc.config ? JSON.stringify(doc.config) : undefined, refine: doc.refine ? JSON.stringify(doc.refine) : undefined },
  };
}
