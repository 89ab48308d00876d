/**
 * A minimal, defensive ZIP reader: just enough to read what `torch.save`
 * writes (stored entries, a ZIP64 end record, data descriptors) plus
 * deflated entries from other writers.
 *
 * Every offset and size read from the file is checked against its size
 * before it is used, so a damaged or hostile archive ends in a `ZipError`
 * (which names the file) rather than a RangeError or an oversized allocation.
 * It reads the end record and the central directory when opened and an
 * entry only when asked, from a buffer (stored entries come back as views,
 * without a copy) or piece by piece from a file (see byte-source.ts).
 */
import { inflateRawSync } from 'node:zlib';
import { AlaeError } from '../errors.js';
import { type ByteSource, memorySource } from './byte-source.js';

/** A problem with the archive's structure or with one of its entries. */
export class ZipError extends AlaeError {
  constructor(message: string, file?: string) {
    super(message, file);
    this.name = 'ZipError';
  }
}

/** One central-directory record, with ZIP64 sizes already applied. */
export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate; anything else is refused when read. */
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
}

export interface ZipOptions {
  /** Check each entry's CRC-32 when it is read (default true). */
  verifyCrc?: boolean;
  /**
   * The most bytes all deflated entries together may inflate to, as a
   * multiple of the archive's size (default 16). Sizes in the directory are
   * claims; this keeps a small file from making us allocate gigabytes.
   */
  maxInflateRatio?: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_MIN_SIZE = 56;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
const MAX_COMMENT = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_UTF8 = 0x0800;

/** True when the buffer starts like a ZIP archive (local header or empty archive). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    bytes[0] === 0x50 &&
    bytes[1] === 0x4b &&
    ((bytes[2] === 0x03 && bytes[3] === 0x04) || (bytes[2] === 0x05 && bytes[3] === 0x06))
  );
}

export class ZipArchive {
  readonly entries: readonly ZipEntry[];
  private readonly byName = new Map<string, ZipEntry>();
  private readonly verifyCrc: boolean;
  /** Bytes that deflated entries may still inflate to (see `maxInflateRatio`). */
  private inflateBudget: number;
  private readonly source: ByteSource;

  constructor(
    bytes: Uint8Array | ByteSource,
    readonly file: string,
    options: ZipOptions = {},
  ) {
    this.source = bytes instanceof Uint8Array ? memorySource(bytes) : bytes;
    this.verifyCrc = options.verifyCrc ?? true;
    this.inflateBudget = this.source.size * (options.maxInflateRatio ?? 16);
    this.entries = this.readCentralDirectory();
    for (const entry of this.entries) {
      // Two entries with one name make the archive ambiguous; torch never writes that.
      if (this.byName.has(entry.name)) this.fail(`duplicate entry name ${JSON.stringify(entry.name)}`);
      this.byName.set(entry.name, entry);
    }
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** The entry's uncompressed bytes: a view into the archive for stored entries. */
  read(entryOrName: ZipEntry | string): Uint8Array {
    const entry = typeof entryOrName === 'string' ? this.byName.get(entryOrName) : entryOrName;
    if (!entry) this.fail(`no entry named ${JSON.stringify(entryOrName)}`);
    const where = `entry ${JSON.stringify(entry.name)}`;
    if (entry.flags & FLAG_ENCRYPTED) this.fail(`${where} is encrypted`);
    const start = this.localDataStart(entry);
    const raw = this.take(start, entry.compressedSize, `${where} data`);
    let data: Uint8Array;
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.uncompressedSize) {
        this.fail(`${where} is stored but its sizes differ (${entry.compressedSize} vs ${entry.uncompressedSize})`);
      }
      data = raw;
    } else if (entry.method === 8) {
      data = this.inflate(raw, entry, where);
    } else {
      this.fail(`${where} uses unsupported compression method ${entry.method}`);
    }
    if (this.verifyCrc && crc32(data) !== entry.crc32) this.fail(`${where} fails its CRC-32 check`);
    return data;
  }

  private inflate(raw: Uint8Array, entry: ZipEntry, where: string): Uint8Array {
    const size = entry.uncompressedSize;
    if (size > this.inflateBudget) {
      this.fail(`${where} claims ${size} uncompressed bytes, more than this archive's size allows`);
    }
    let out: Buffer;
    try {
      // maxOutputLength stops zlib at the declared size; it must be at least 1.
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, size) });
    } catch (err) {
      this.fail(`${where} does not inflate: ${(err as Error).message}`);
    }
    if (out.length !== size) this.fail(`${where} inflates to ${out.length} bytes, not the declared ${size}`);
    this.inflateBudget -= size;
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  /** Where the entry's data begins, after its local header (whose sizes may be zero: data descriptors). */
  private localDataStart(entry: ZipEntry): number {
    const at = entry.localHeaderOffset;
    const where = `local header of ${JSON.stringify(entry.name)}`;
    const header = this.take(at, LOCAL_HEADER_SIZE, where);
    if (u32(header, 0) !== SIG_LOCAL) this.fail(`${where} at ${at} has a bad signature`);
    const nameLength = u16(header, 26);
    const extraLength = u16(header, 28);
    this.need(at + LOCAL_HEADER_SIZE, nameLength + extraLength, where);
    const name = decodeName(this.source.read(at + LOCAL_HEADER_SIZE, nameLength), entry.flags);
    // A local name that differs from the directory's is how parser-confusion attacks start.
    if (name !== entry.name) this.fail(`${where} names ${JSON.stringify(name)}`);
    return at + LOCAL_HEADER_SIZE + nameLength + extraLength;
  }

  private readCentralDirectory(): ZipEntry[] {
    const eocd = this.findEndOfCentralDirectory();
    const e = this.source.read(eocd, EOCD_SIZE);
    const diskNumber = u16(e, 4);
    const cdDisk = u16(e, 6);
    let count = u16(e, 10);
    let cdSize = u32(e, 12);
    let cdOffset = u32(e, 16);
    const locatorAt = eocd - ZIP64_LOCATOR_SIZE;
    const locator = locatorAt >= 0 ? this.source.read(locatorAt, ZIP64_LOCATOR_SIZE) : null;
    if (locator && u32(locator, 0) === SIG_ZIP64_LOCATOR) {
      const recordAt = u64(locator, 8);
      const record = this.take(recordAt, ZIP64_EOCD_MIN_SIZE, 'ZIP64 end record');
      if (recordAt + ZIP64_EOCD_MIN_SIZE > locatorAt) this.fail('ZIP64 end record overlaps its locator');
      if (u32(record, 0) !== SIG_ZIP64_EOCD) this.fail('ZIP64 end record has a bad signature');
      // The 64-bit values only count where the classic field is saturated.
      if (count === 0xffff) count = u64(record, 32);
      if (cdSize === 0xffffffff) cdSize = u64(record, 40);
      if (cdOffset === 0xffffffff) cdOffset = u64(record, 48);
    } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      this.fail('end record needs ZIP64 values but has no ZIP64 locator');
    }
    if ((diskNumber !== 0 && diskNumber !== 0xffff) || (cdDisk !== 0 && cdDisk !== 0xffff)) {
      this.fail('multi-disk archives are not supported');
    }
    this.need(cdOffset, cdSize, 'central directory');
    if (cdOffset + cdSize > eocd) this.fail('central directory overlaps the end record');
    if (count * CENTRAL_HEADER_SIZE > cdSize) {
      this.fail(`central directory of ${cdSize} bytes cannot hold ${count} entries`);
    }

    // Offsets below are into the directory, read in one piece.
    const b = this.source.read(cdOffset, cdSize);
    const entries: ZipEntry[] = [];
    const end = cdSize;
    let at = 0;
    for (let i = 0; i < count; i++) {
      const where = `central directory entry ${i}`;
      if (at + CENTRAL_HEADER_SIZE > end) this.fail(`${where} runs past the directory`);
      if (u32(b, at) !== SIG_CENTRAL) this.fail(`${where} at ${cdOffset + at} has a bad signature`);
      const flags = u16(b, at + 8);
      const method = u16(b, at + 10);
      const crc = u32(b, at + 16);
      let compressedSize = u32(b, at + 20);
      let uncompressedSize = u32(b, at + 24);
      const nameLength = u16(b, at + 28);
      const extraLength = u16(b, at + 30);
      const commentLength = u16(b, at + 32);
      let localHeaderOffset = u32(b, at + 42);
      const nameAt = at + CENTRAL_HEADER_SIZE;
      const extraAt = nameAt + nameLength;
      const next = extraAt + extraLength + commentLength;
      if (next > end) this.fail(`${where} runs past the directory`);
      const name = decodeName(b.subarray(nameAt, extraAt), flags);
      if (uncompressedSize === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
        // The ZIP64 extra field lists only the saturated values, in this order.
        const zip64 = this.findExtra(b, extraAt, extraLength, ZIP64_EXTRA_ID, where);
        let p = zip64.start;
        const take = (what: string): number => {
          if (p + 8 > zip64.end) this.fail(`${where}: ZIP64 extra field lacks the ${what}`);
          const value = u64(b, p);
          p += 8;
          return value;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take('uncompressed size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('local header offset');
      }
      if (localHeaderOffset >= cdOffset) this.fail(`${where}: local header offset ${localHeaderOffset} is not before the directory`);
      if (compressedSize > cdOffset - localHeaderOffset) {
        this.fail(`${where}: ${compressedSize} compressed bytes do not fit before the directory`);
      }
      entries.push({ name, method, flags, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset });
      at = next;
    }
    return entries;
  }

  /** The extra field `id` within `b[start, start + length)`. */
  private findExtra(b: Uint8Array, start: number, length: number, id: number, where: string): { start: number; end: number } {
    const end = start + length;
    let p = start;
    while (p + 4 <= end) {
      const fieldId = u16(b, p);
      const size = u16(b, p + 2);
      if (p + 4 + size > end) this.fail(`${where}: extra field runs past its end`);
      if (fieldId === id) return { start: p + 4, end: p + 4 + size };
      p += 4 + size;
    }
    this.fail(`${where} needs a ZIP64 extra field but has none`);
  }

  /** The last end-of-central-directory record, searched only where a comment could reach. */
  private findEndOfCentralDirectory(): number {
    const size = this.source.size;
    // Archives rarely have a comment: the last KiB first, then all a comment could fill.
    for (const span of [1024, EOCD_SIZE + MAX_COMMENT]) {
      const first = Math.max(0, size - span);
      const tail = this.source.read(first, size - first);
      for (let at = tail.length - EOCD_SIZE; at >= 0; at--) {
        if (tail[at] === 0x50 && tail[at + 1] === 0x4b && u32(tail, at) === SIG_EOCD) {
          if (at + EOCD_SIZE + u16(tail, at + 20) <= tail.length) return first + at;
        }
      }
      if (first === 0) break;
    }
    this.fail('no end-of-central-directory record (not a ZIP archive, or truncated)');
  }

  private need(offset: number, length: number, what: string): void {
    const size = this.source.size;
    if (!(offset >= 0 && length >= 0 && offset + length <= size)) {
      this.fail(`${what} (${length} bytes at ${offset}) lies outside the ${size}-byte file`);
    }
  }

  /** `length` bytes at `offset`, after checking that they lie inside the file. */
  private take(offset: number, length: number, what: string): Uint8Array {
    this.need(offset, length, what);
    return this.source.read(offset, length);
  }

  private fail(message: string): never {
    throw new ZipError(message, this.file);
  }
}

const utf8 = new TextDecoder('utf-8');

function decodeName(raw: Uint8Array, flags: number): string {
  // Non-UTF-8 names are CP437 in theory; torch writes ASCII, so latin1 is close enough.
  if (flags & FLAG_UTF8) return utf8.decode(raw);
  return Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('latin1');
}

/** Callers check bounds first; these only assemble little-endian integers. */
function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/**
 * A 64-bit field as a double. Values past 2^53 lose precision, which is
 * harmless: they are far beyond any buffer, so the bounds checks refuse them.
 */
function u64(b: Uint8Array, at: number): number {
  return u32(b, at + 4) * 0x1_0000_0000 + u32(b, at);
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE), table-driven; Node 20's zlib has no crc32 in every minor release. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const table = crcTable;
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
