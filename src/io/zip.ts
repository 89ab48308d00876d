/**
 * A minimal, defensive ZIP reader over an in-memory buffer: just enough to
 * read what `torch.save` writes (stored entries, a ZIP64 end record, data
 * descriptors) plus deflated entries from other writers.
 *
 * Every offset and size read from the file is checked against the buffer
 * before it is used, so a damaged or hostile archive ends in a `ZipError`
 * (which names the file) rather than a RangeError or an oversized allocation.
 * Entries are read lazily; stored entries come back as views into the
 * archive's buffer, without a copy.
 */
import { inflateRawSync } from 'node:zlib';
import { AlaeError } from '../errors.js';

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

  constructor(
    private readonly bytes: Uint8Array,
    readonly file: string,
    options: ZipOptions = {},
  ) {
    this.verifyCrc = options.verifyCrc ?? true;
    this.inflateBudget = bytes.length * (options.maxInflateRatio ?? 16);
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
    this.need(start, entry.compressedSize, `${where} data`);
    const raw = this.bytes.subarray(start, start + entry.compressedSize);
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
    this.need(at, LOCAL_HEADER_SIZE, where);
    if (u32(this.bytes, at) !== SIG_LOCAL) this.fail(`${where} at ${at} has a bad signature`);
    const nameLength = u16(this.bytes, at + 26);
    const extraLength = u16(this.bytes, at + 28);
    this.need(at + LOCAL_HEADER_SIZE, nameLength + extraLength, where);
    const name = decodeName(this.bytes.subarray(at + LOCAL_HEADER_SIZE, at + LOCAL_HEADER_SIZE + nameLength), entry.flags);
    // A local name that differs from the directory's is how parser-confusion attacks start.
    if (name !== entry.name) this.fail(`${where} names ${JSON.stringify(name)}`);
    return at + LOCAL_HEADER_SIZE + nameLength + extraLength;
  }

  private readCentralDirectory(): ZipEntry[] {
    const b = this.bytes;
    const eocd = this.findEndOfCentralDirectory();
    const diskNumber = u16(b, eocd + 4);
    const cdDisk = u16(b, eocd + 6);
    let count = u16(b, eocd + 10);
    let cdSize = u32(b, eocd + 12);
    let cdOffset = u32(b, eocd + 16);
    const locatorAt = eocd - ZIP64_LOCATOR_SIZE;
    const hasZip64 = locatorAt >= 0 && u32(b, locatorAt) === SIG_ZIP64_LOCATOR;
    if (hasZip64) {
      const recordAt = u64(b, locatorAt + 8);
      this.need(recordAt, ZIP64_EOCD_MIN_SIZE, 'ZIP64 end record');
      if (recordAt + ZIP64_EOCD_MIN_SIZE > locatorAt) this.fail('ZIP64 end record overlaps its locator');
      if (u32(b, recordAt) !== SIG_ZIP64_EOCD) this.fail('ZIP64 end record has a bad signature');
      // The 64-bit values only count where the classic field is saturated.
      if (count === 0xffff) count = u64(b, recordAt + 32);
      if (cdSize === 0xffffffff) cdSize = u64(b, recordAt + 40);
      if (cdOffset === 0xffffffff) cdOffset = u64(b, recordAt + 48);
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

    const entries: ZipEntry[] = [];
    const end = cdOffset + cdSize;
    let at = cdOffset;
    for (let i = 0; i < count; i++) {
      const where = `central directory entry ${i}`;
      if (at + CENTRAL_HEADER_SIZE > end) this.fail(`${where} runs past the directory`);
      if (u32(b, at) !== SIG_CENTRAL) this.fail(`${where} at ${at} has a bad signature`);
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
        const zip64 = this.findExtra(extraAt, extraLength, ZIP64_EXTRA_ID, where);
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

  private findExtra(start: number, length: number, id: number, where: string): { start: number; end: number } {
    const b = this.bytes;
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
    const b = this.bytes;
    const last = b.length - EOCD_SIZE;
    const first = Math.max(0, last - MAX_COMMENT);
    for (let at = last; at >= first; at--) {
      if (b[at] === 0x50 && b[at + 1] === 0x4b && u32(b, at) === SIG_EOCD) {
        if (at + EOCD_SIZE + u16(b, at + 20) <= b.length) return at;
      }
    }
    this.fail('no end-of-central-directory record (not a ZIP archive, or truncated)');
  }

  private need(offset: number, length: number, what: string): void {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.bytes.length)) {
      this.fail(`${what} (${length} bytes at ${offset}) lies outside the ${this.bytes.length}-byte file`);
    }
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
