/**
 * Writing an image in the format its file name asks for: .png, .jpg/.jpeg
 * or .webp (sharp), atomically, creating the folder. Fixed encoder
 * settings and no metadata, so the same pixels always give the same bytes.
 * Any other extension is refused before anything is computed
 * (`imageFormatOf`), never written as PNG bytes under another name.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { AlaeError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import type { RawImage } from './image.js';

export type ImageFormat = 'png' | 'jpeg' | 'webp';

const BY_EXTENSION: Record<string, ImageFormat> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' };

/** The extensions an output image may have. */
export const OUTPUT_IMAGE_EXTENSIONS = Object.keys(BY_EXTENSION);

/** Does the name end in an image extension we write? */
export function isImageName(file: string): boolean {
  return path.extname(file).toLowerCase() in BY_EXTENSION;
}

/** The format a file name asks for; an AlaeError for any other extension. */
export function imageFormatOf(file: string): ImageFormat {
  const f = BY_EXTENSION[path.extname(file).toLowerCase()];
  if (!f) throw new AlaeError(`images are written as ${OUTPUT_IMAGE_EXTENSIONS.join(', ')} (choose one by the file extension)`, file);
  return f;
}

/** The encoded bytes of an image in a format. */
export async function encodeImage(img: RawImage, format: ImageFormat): Promise<Uint8Array> {
  const s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 2 | 3 | 4 } });
  const out =
    format === 'png'
      ? s.png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
      : format === 'jpeg'
        ? s.jpeg({ quality: 95, chromaSubsampling: '4:4:4' })
        : s.webp({ lossless: true });
  const buf = await out.toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** Write an image in the format of its extension, atomically (creating the folder). */
export async function writeImage(file: string, img: RawImage): Promise<void> {
  const format = imageFormatOf(file);
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFileAtomic(file, await encodeImage(img, format));
}
