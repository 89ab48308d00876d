/**
 * A Python unpickler that executes nothing.
 *
 * Python's own unpickler imports whatever module a pickle names and calls
 * whatever it is told to, which makes loading an untrusted checkpoint
 * equivalent to running it. This one reads the same opcodes (protocols 0-5,
 * as written by CPython and `torch.save`) into plain values:
 *
 * - `None`, `bool`, `str` map to `null`, `boolean`, `string`; `float` to
 *   `number`; `int` to `number` when it is a safe integer, else `bigint`.
 * - `bytes`/`bytearray` become `Uint8Array`, views into the input where the
 *   pickle stores them raw (BINBYTES and friends), so no copy is made.
 * - `list` is a JS array; `tuple` is a `PickleTuple`; `set`/`frozenset` a
 *   `PickleSet` (items as pickled, not deduplicated).
 * - `dict` and `collections.OrderedDict` are `PickleDict`, a `Map` keyed by
 *   `string | number | bigint | boolean | null` in insertion order. Python
 *   keys of other types (tuples, bytes...) are refused.
 * - A GLOBAL is only a reference (`PickleGlobal`). Calling one (REDUCE,
 *   NEWOBJ, INST, OBJ) applies a reducer from a whitelist: a few safe
 *   builtins here, plus what the caller passes (torch's tensor rebuilders).
 *   Anything else becomes a `PickleOpaque` recording what would have been
 *   called with which arguments, so a reader can step over it.
 *
 * Values may be shared and even cyclic (a list may contain itself), exactly
 * as in Python; walk them with a visited set if you recurse.
 *
 * Resource use is bounded by the input: every opcode consumes at least one
 * byte, lengths are checked against the remaining bytes before anything is
 * allocated, memo and stack hold references, and work done by reducers
 * (copying an iterable argument) is charged against a budget proportional
 * to the input's size, so a small pickle cannot ask for quadratic work.
 */
import { AlaeError } from '../errors.js';

export type PickleKey = string | number | bigint | boolean | null;

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleTuple
  | PickleDict
  | PickleSet
  | PickleGlobal
  | PickleOpaque
  | PickleExtension;

export class PickleTuple {
  readonly kind = 'tuple';
  constructor(readonly items: readonly PickleValue[]) {}
}

/** `dict` or `collections.OrderedDict`; BUILD state (torch's `_metadata`) goes to `state`, never into the items. */
export class PickleDict extends Map<PickleKey, PickleValue> {
  readonly kind = 'dict';
  state: PickleValue | undefined = undefined;
  constructor(readonly pyClass: 'dict' | 'collections.OrderedDict' = 'dict') {
    super();
  }
}

export class PickleSet {
  readonly kind = 'set';
  constructor(
    readonly frozen: boolean,
    readonly items: PickleValue[] = [],
  ) {}
}

/** A reference to a Python class or function, as GLOBAL / STACK_GLOBAL name it. Nothing is imported. */
export class PickleGlobal {
  readonly kind = 'global';
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What a non-whitelisted call would have produced: the callee's name, its arguments and any BUILD state. */
export class PickleOpaque {
  readonly kind = 'opaque';
  state: PickleValue | undefined = undefined;
  constructor(
    readonly module: string,
    readonly name: string,
    readonly args: PickleTuple,
    readonly kwargs?: PickleDict,
  ) {}
}

/** Base for values that callers' reducers and persistent loaders build (tensors, storages). */
export abstract class PickleExtension {
  abstract readonly kind: string;
  /** State from a BUILD opcode applied to this value, if any. */
  state: PickleValue | undefined = undefined;
}

/**
 * Thrown by reducers and persistent loaders when their arguments are not
 * what they accept; the unpickler turns it into a `PickleError` that says
 * where in the pickle this happened.
 */
export class PickleValueError extends Error {}

export class PickleError extends AlaeError {
  constructor(
    message: string,
    file: string | undefined,
    readonly offset: number,
    readonly opcode: string,
  ) {
    super(message, file);
    this.name = 'PickleError';
  }
}

export interface ReduceContext {
  /** The class or function being called. */
  readonly callee: PickleGlobal;
  /** Account for work proportional to `items` (copying an argument); throws past the budget. */
  charge(items: number): void;
}

/** Builds a value from a whitelisted callee's positional arguments. */
export type Reducer = (args: readonly PickleValue[], context: ReduceContext) => PickleValue;

export interface UnpickleOptions {
  /** Named in errors. */
  file?: string;
  /** Where in `file` the pickle lives (e.g. an archive entry), also for errors. */
  context?: string;
  /** Byte offset at which the pickle starts (default 0). */
  offset?: number;
  /** Resolves PERSID / BINPERSID ids; without it those opcodes are errors. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /** Extra whitelisted callees by `module.name`; they take precedence over the built-in ones. */
  reducers?: ReadonlyMap<string, Reducer>;
  /** Stack entries allowed at once (default 2^24). */
  maxStack?: number;
  /** MARKs open at once, i.e. container nesting while unpickling (default 10,000). */
  maxMarkDepth?: number;
}

export interface UnpickleResult {
  value: PickleValue;
  /** Offset just past the STOP opcode: where a following pickle would start. */
  end: number;
}

/** Reads one pickle from `bytes` starting at `options.offset`. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): UnpickleResult {
  return new Unpickler(bytes, options).run();
}

/**
 * Follows `path` through dicts (by key) and lists/tuples (by numeric index);
 * undefined when any step is missing or not a container.
 */
export function pickleGet(value: PickleValue | undefined, ...path: readonly PickleKey[]): PickleValue | undefined {
  let current = value;
  for (const key of path) {
    if (current instanceof PickleDict) {
      current = current.get(key);
    } else if ((Array.isArray(current) || current instanceof PickleTuple) && typeof key === 'number') {
      const items: readonly PickleValue[] = Array.isArray(current) ? current : current.items;
      current = Number.isInteger(key) && key >= 0 && key < items.length ? items[key] : undefined;
    } else {
      return undefined;
    }
  }
  return current;
}

/** Python-ish type name of a value, for messages. */
export function pyTypeName(value: PickleValue | undefined): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'None';
  switch (typeof value) {
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(value) ? 'int' : 'float';
    case 'bigint':
      return 'int';
    case 'string':
      return 'str';
  }
  if (value instanceof Uint8Array) return 'bytes';
  if (Array.isArray(value)) return 'list';
  if (value instanceof PickleSet) return value.frozen ? 'frozenset' : 'set';
  if (value instanceof PickleGlobal) return `<global ${value.qualifiedName}>`;
  if (value instanceof PickleOpaque) return `<opaque ${value.module}.${value.name}>`;
  if (value instanceof PickleDict) return value.pyClass;
  return value.kind;
}

// ---------------------------------------------------------------------------

const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1',
  0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

const HIGHEST_PROTOCOL = 5;
/** Python 3.11+ refuses int<->str conversions past 4300 digits for the same reason: cost. */
const MAX_DECIMAL_DIGITS = 4300;
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Python 2 module names, as protocol 0-2 pickles from Python 2 spell them. */
const MODULE_ALIASES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

function iterableItems(value: PickleValue, what: string): readonly PickleValue[] {
  if (Array.isArray(value)) return value;
  if (value instanceof PickleTuple || value instanceof PickleSet) return value.items;
  if (value instanceof PickleDict) return [...value.keys()];
  throw new PickleValueError(`${what} needs an iterable, got ${pyTypeName(value)}`);
}

function dictFromArgs(args: readonly PickleValue[], ctx: ReduceContext, pyClass: PickleDict['pyClass']): PickleDict {
  const dict = new PickleDict(pyClass);
  if (args.length === 0) return dict;
  if (args.length !== 1) throw new PickleValueError(`${ctx.callee.qualifiedName} takes at most 1 argument`);
  const source = args[0];
  if (source instanceof PickleDict) {
    ctx.charge(source.size);
    for (const [k, v] of source) dict.set(k, v);
    return dict;
  }
  const pairs = iterableItems(source, ctx.callee.qualifiedName);
  ctx.charge(pairs.length);
  for (const pair of pairs) {
    const kv = Array.isArray(pair) ? pair : pair instanceof PickleTuple ? pair.items : undefined;
    if (!kv || kv.length !== 2) throw new PickleValueError(`${ctx.callee.qualifiedName} needs key/value pairs`);
    dict.set(toKey(kv[0]), kv[1]);
  }
  return dict;
}

function copyItems(args: readonly PickleValue[], ctx: ReduceContext): PickleValue[] {
  if (args.length === 0) return [];
  if (args.length !== 1) throw new PickleValueError(`${ctx.callee.qualifiedName} takes at most 1 argument`);
  const items = iterableItems(args[0], ctx.callee.qualifiedName);
  ctx.charge(items.length);
  return items.slice();
}

function encodeString(text: PickleValue, encoding: PickleValue, ctx: ReduceContext): Uint8Array {
  if (typeof text !== 'string' || typeof encoding !== 'string') {
    throw new PickleValueError(`${ctx.callee.qualifiedName} needs (str, encoding)`);
  }
  ctx.charge(text.length);
  const enc = encoding.toLowerCase().replace(/[-_]/g, '');
  if (enc === 'latin1' || enc === 'iso88591' || enc === 'l1') {
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 0xff) throw new PickleValueError(`character U+${c.toString(16)} does not fit latin-1`);
      out[i] = c;
    }
    return out;
  }
  if (enc === 'utf8' || enc === 'ascii') return new TextEncoder().encode(text);
  throw new PickleValueError(`unsupported encoding ${JSON.stringify(encoding)}`);
}

function bytesFromArgs(args: readonly PickleValue[], ctx: ReduceContext): Uint8Array {
  if (args.length === 0) return new Uint8Array(0);
  if (args.length === 2) return encodeString(args[0], args[1], ctx);
  if (args.length !== 1) throw new PickleValueError(`${ctx.callee.qualifiedName} takes at most 2 arguments`);
  const source = args[0];
  if (source instanceof Uint8Array) return source;
  const items = iterableItems(source, ctx.callee.qualifiedName);
  ctx.charge(items.length);
  const out = new Uint8Array(items.length);
  items.forEach((item, i) => {
    if (typeof item !== 'number' || !Number.isInteger(item) || item < 0 || item > 255) {
      throw new PickleValueError(`${ctx.callee.qualifiedName} needs ints in 0..255`);
    }
    out[i] = item;
  });
  return out;
}

/** Safe builtins: each only builds a container or bytes from its arguments. */
const BUILTIN_REDUCERS: ReadonlyMap<string, Reducer> = new Map<string, Reducer>([
  ['collections.OrderedDict', (args, ctx) => dictFromArgs(args, ctx, 'collections.OrderedDict')],
  ['builtins.dict', (args, ctx) => dictFromArgs(args, ctx, 'dict')],
  ['builtins.list', (args, ctx) => copyItems(args, ctx)],
  ['builtins.tuple', (args, ctx) => new PickleTuple(copyItems(args, ctx))],
  ['builtins.set', (args, ctx) => new PickleSet(false, copyItems(args, ctx))],
  ['builtins.frozenset', (args, ctx) => new PickleSet(true, copyItems(args, ctx))],
  ['builtins.bytes', bytesFromArgs],
  ['builtins.bytearray', bytesFromArgs],
  // Protocol 2 writes Python 3 bytes as _codecs.encode(latin1 text, 'latin1').
  [
    '_codecs.encode',
    (args, ctx) => {
      if (args.length !== 2) throw new PickleValueError('_codecs.encode needs (str, encoding)');
      return encodeString(args[0], args[1], ctx);
    },
  ],
]);

/** Classes whose NEWOBJ (`cls.__new__(cls)`) is an empty container, filled by later opcodes. */
const EMPTY_BY_NEWOBJ: ReadonlyMap<string, () => PickleValue> = new Map<string, () => PickleValue>([
  ['collections.OrderedDict', () => new PickleDict('collections.OrderedDict')],
  ['builtins.dict', () => new PickleDict('dict')],
  ['builtins.list', () => []],
  ['builtins.set', () => new PickleSet(false)],
]);

function toKey(value: PickleValue): PickleKey {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return value;
  }
  throw new PickleValueError(`unsupported dict key of type ${pyTypeName(value)}`);
}

function isDigitString(text: string): boolean {
  return /^[+-]?[0-9]+$/.test(text);
}

class Unpickler {
  private pos: number;
  private opStart = 0;
  private op = 0;
  private readonly stack: PickleValue[] = [];
  /** Stack heights at each open MARK. */
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PickleValue>();
  private readonly maxStack: number;
  private readonly maxMarkDepth: number;
  private workLeft: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.pos = options.offset ?? 0;
    this.maxStack = options.maxStack ?? 1 << 24;
    this.maxMarkDepth = options.maxMarkDepth ?? 10_000;
    this.workLeft = 4 * bytes.length + 4096;
  }

  run(): UnpickleResult {
    const b = this.bytes;
    if (!(this.pos >= 0 && this.pos <= b.length)) this.fail(`start offset ${this.pos} is outside the input`);
    for (;;) {
      this.opStart = this.pos;
      if (this.pos >= b.length) {
        this.op = -1;
        this.fail('pickle ends without STOP (truncated)');
      }
      this.op = b[this.pos++];
      switch (this.op) {
        case 0x80: {
          const version = this.take(1)[0];
          if (version > HIGHEST_PROTOCOL) this.fail(`unsupported protocol ${version}`);
          break;
        }
        case 0x95: // FRAME: only a read-ahead hint; the length must still be plausible.
          this.length(8);
          break;
        case 0x2e: // STOP
          return { value: this.pop(), end: this.pos };
        case 0x28: // MARK
          if (this.marks.length >= this.maxMarkDepth) this.fail(`more than ${this.maxMarkDepth} nested MARKs`);
          this.marks.push(this.stack.length);
          break;
        case 0x30: // POP: Python pops the mark itself when the current frame is empty.
          if (this.stack.length > this.frameStart()) this.stack.pop();
          else this.popMark();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;

        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88: // NEWTRUE
          this.push(true);
          break;
        case 0x89: // NEWFALSE
          this.push(false);
          break;
        case 0x4b: // BININT1
          this.push(this.take(1)[0]);
          break;
        case 0x4d: {
          // BININT2
          const x = this.take(2);
          this.push(x[0] | (x[1] << 8));
          break;
        }
        case 0x4a: {
          // BININT
          const x = this.take(4);
          this.push(x[0] | (x[1] << 8) | (x[2] << 16) | (x[3] << 24));
          break;
        }
        case 0x8a: // LONG1
          this.push(decodeLong(this.take(this.take(1)[0])));
          break;
        case 0x8b: // LONG4
          this.push(decodeLong(this.take(this.length(4, true))));
          break;
        case 0x49: {
          // INT: protocol 0 also spells booleans this way.
          const text = this.textLine();
          if (text === '00') this.push(false);
          else if (text === '01') this.push(true);
          else this.push(this.parseDecimal(text));
          break;
        }
        case 0x4c: // LONG
          this.push(this.parseDecimal(this.textLine().replace(/L$/, '')));
          break;
        case 0x46: // FLOAT
          this.push(this.parseFloat(this.textLine()));
          break;
        case 0x47: {
          // BINFLOAT: big-endian double
          const x = this.take(8);
          this.push(new DataView(x.buffer, x.byteOffset, 8).getFloat64(0, false));
          break;
        }

        case 0x58: // BINUNICODE
          this.push(this.utf8(this.take(this.length(4))));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.utf8(this.take(this.take(1)[0])));
          break;
        case 0x8d: // BINUNICODE8
          this.push(this.utf8(this.take(this.length(8))));
          break;
        case 0x56: // UNICODE: raw-unicode-escape text
          this.push(decodeRawUnicodeEscape(this.line()));
          break;
        case 0x54: // BINSTRING: Python 2 str
          this.push(decodePy2String(this.take(this.length(4, true))));
          break;
        case 0x55: // SHORT_BINSTRING
          this.push(decodePy2String(this.take(this.take(1)[0])));
          break;
        case 0x53: // STRING: quoted repr
          this.push(decodePy2String(this.unquote(this.line())));
          break;
        case 0x42: // BINBYTES
          this.push(this.take(this.length(4)));
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.take(this.take(1)[0]));
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.push(this.take(this.length(8)));
          break;
        case 0x97: // NEXT_BUFFER
          this.fail('out-of-band buffers are not supported');
          break;
        case 0x98: // READONLY_BUFFER
          this.top();
          break;

        case 0x29: // EMPTY_TUPLE
          this.push(new PickleTuple([]));
          break;
        case 0x85: // TUPLE1
          this.push(new PickleTuple(this.popN(1)));
          break;
        case 0x86: // TUPLE2
          this.push(new PickleTuple(this.popN(2)));
          break;
        case 0x87: // TUPLE3
          this.push(new PickleTuple(this.popN(3)));
          break;
        case 0x74: // TUPLE
          this.push(new PickleTuple(this.popMark()));
          break;
        case 0x5d: // EMPTY_LIST
          this.push([]);
          break;
        case 0x6c: // LIST
          this.push(this.popMark());
          break;
        case 0x61: {
          // APPEND
          const value = this.pop();
          this.listOnTop().push(value);
          break;
        }
        case 0x65: {
          // APPENDS (a loop, not push(...items): spreading a huge array overflows the call stack)
          const items = this.popMark();
          const list = this.listOnTop();
          for (const item of items) list.push(item);
          break;
        }
        case 0x7d: // EMPTY_DICT
          this.push(new PickleDict());
          break;
        case 0x64: {
          // DICT
          const items = this.popMark();
          const dict = new PickleDict();
          this.setPairs(dict, items);
          this.push(dict);
          break;
        }
        case 0x73: {
          // SETITEM
          const value = this.pop();
          const key = this.pop();
          this.dictOnTop().set(this.key(key), value);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          this.setPairs(this.dictOnTop(), items);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.push(new PickleSet(false));
          break;
        case 0x90: {
          // ADDITEMS
          const items = this.popMark();
          const set = this.top();
          if (!(set instanceof PickleSet) || set.frozen) this.fail(`ADDITEMS on ${pyTypeName(set)}, not a set`);
          for (const item of items) set.items.push(item);
          break;
        }
        case 0x91: // FROZENSET
          this.push(new PickleSet(true, this.popMark()));
          break;

        case 0x67: // GET
          this.push(this.memoGet(this.memoIndex(this.textLine())));
          break;
        case 0x68: // BINGET
          this.push(this.memoGet(this.take(1)[0]));
          break;
        case 0x6a: // LONG_BINGET
          this.push(this.memoGet(this.uint32()));
          break;
        case 0x70: // PUT
          this.memo.set(this.memoIndex(this.textLine()), this.top());
          break;
        case 0x71: // BINPUT
          this.memo.set(this.take(1)[0], this.top());
          break;
        case 0x72: // LONG_BINPUT
          this.memo.set(this.uint32(), this.top());
          break;
        case 0x94: // MEMOIZE
          this.memo.set(this.memo.size, this.top());
          break;

        case 0x63: {
          // GLOBAL
          const module = this.utf8(this.line());
          const name = this.utf8(this.line());
          this.push(new PickleGlobal(module, name));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') {
            this.fail(`needs two str, got ${pyTypeName(module)} and ${pyTypeName(name)}`);
          }
          this.push(new PickleGlobal(module, name));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.popArgs();
          this.push(this.call(this.pop(), args));
          break;
        }
        case 0x81: {
          // NEWOBJ
          const args = this.popArgs();
          this.push(this.newObject(this.pop(), args));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.popArgs();
          if (!(kwargs instanceof PickleDict)) this.fail(`keyword arguments must be a dict, got ${pyTypeName(kwargs)}`);
          this.push(this.newObject(this.pop(), args, kwargs));
          break;
        }
        case 0x69: {
          // INST: protocol 0's class call, module and name on text lines
          const module = this.utf8(this.line());
          const name = this.utf8(this.line());
          const args = new PickleTuple(this.popMark());
          this.push(this.call(new PickleGlobal(module, name), args));
          break;
        }
        case 0x6f: {
          // OBJ: MARK cls args... OBJ
          const items = this.popMark();
          if (items.length === 0) this.fail('no class to instantiate');
          this.push(this.call(items[0], new PickleTuple(items.slice(1))));
          break;
        }
        case 0x62: {
          // BUILD
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case 0x50: // PERSID
          this.push(this.persistent(this.utf8(this.line())));
          break;
        case 0x51: // BINPERSID
          this.push(this.persistent(this.pop()));
          break;
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: // EXT4
          this.fail('extension-registry codes are not supported');
          break;
        default:
          this.fail(`unknown opcode 0x${this.op.toString(16).padStart(2, '0')}`);
      }
    }
  }

  // --- calls: nothing runs unless whitelisted ---------------------------------

  /** The argument tuple of REDUCE / NEWOBJ, from the top of the stack. */
  private popArgs(): PickleTuple {
    const args = this.pop();
    if (!(args instanceof PickleTuple)) this.fail(`arguments must be a tuple, got ${pyTypeName(args)}`);
    return args as PickleTuple;
  }

  private call(callee: PickleValue, args: PickleTuple): PickleValue {
    if (callee instanceof PickleGlobal) {
      const reducer = this.reducer(callee);
      if (reducer) return this.guard(() => reducer(args.items, this.context(callee)));
      return new PickleOpaque(callee.module, callee.name, args);
    }
    // Calling the result of an earlier opaque call (rare): still opaque.
    if (callee instanceof PickleOpaque) return new PickleOpaque(callee.module, `${callee.name}()`, args);
    this.fail(`cannot call a ${pyTypeName(callee)} value`);
  }

  private newObject(cls: PickleValue, args: PickleTuple, kwargs?: PickleDict): PickleValue {
    if (cls instanceof PickleOpaque) return new PickleOpaque(cls.module, `${cls.name}()`, args, kwargs);
    if (!(cls instanceof PickleGlobal)) this.fail(`cannot instantiate a ${pyTypeName(cls)} value`);
    const empty = EMPTY_BY_NEWOBJ.get(normalizedName(cls));
    return empty ? empty() : new PickleOpaque(cls.module, cls.name, args, kwargs);
  }

  private reducer(callee: PickleGlobal): Reducer | undefined {
    const name = normalizedName(callee);
    return this.options.reducers?.get(name) ?? BUILTIN_REDUCERS.get(name);
  }

  private context(callee: PickleGlobal): ReduceContext {
    return { callee, charge: (items) => this.charge(items) };
  }

  private charge(items: number): void {
    this.workLeft -= items;
    if (this.workLeft < 0) this.fail('pickle asks for more work than its size allows');
  }

  private build(target: PickleValue, state: PickleValue): void {
    if (target instanceof PickleDict || target instanceof PickleOpaque || target instanceof PickleExtension) {
      // Python merges dict state into the instance __dict__; keep the merge without mutating shared dicts.
      const previous = target.state;
      if (previous instanceof PickleDict && state instanceof PickleDict) {
        this.charge(previous.size + state.size);
        const merged = new PickleDict();
        for (const [k, v] of previous) merged.set(k, v);
        for (const [k, v] of state) merged.set(k, v);
        target.state = merged;
      } else {
        target.state = state;
      }
      return;
    }
    this.fail(`cannot BUILD a ${pyTypeName(target)}`);
  }

  private persistent(pid: PickleValue): PickleValue {
    const load = this.options.persistentLoad;
    if (!load) this.fail('persistent id but no persistent loader');
    return this.guard(() => load(pid));
  }

  /** Runs caller code, turning its argument complaints into positioned PickleErrors. */
  private guard(fn: () => PickleValue): PickleValue {
    try {
      return fn();
    } catch (err) {
      if (err instanceof PickleValueError) this.fail(err.message);
      throw err;
    }
  }

  // --- stack ------------------------------------------------------------------

  private frameStart(): number {
    return this.marks.length > 0 ? this.marks[this.marks.length - 1] : 0;
  }

  private push(value: PickleValue): void {
    if (this.stack.length >= this.maxStack) this.fail(`stack exceeds ${this.maxStack} entries`);
    this.stack.push(value);
  }

  private pop(): PickleValue {
    if (this.stack.length <= this.frameStart()) this.fail('stack underflow');
    return this.stack.pop() as PickleValue;
  }

  private popN(n: number): PickleValue[] {
    if (this.stack.length - this.frameStart() < n) this.fail('stack underflow');
    return this.stack.splice(this.stack.length - n, n);
  }

  private top(): PickleValue {
    if (this.stack.length <= this.frameStart()) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): PickleValue[] {
    const mark = this.marks.pop();
    if (mark === undefined) this.fail('no MARK to pop to');
    return this.stack.splice(mark);
  }

  private listOnTop(): PickleValue[] {
    const list = this.top();
    if (!Array.isArray(list)) this.fail(`append to ${pyTypeName(list)}, not a list`);
    return list;
  }

  private dictOnTop(): PickleDict {
    const dict = this.top();
    if (!(dict instanceof PickleDict)) this.fail(`set item on ${pyTypeName(dict)}, not a dict`);
    return dict;
  }

  private setPairs(dict: PickleDict, items: PickleValue[]): void {
    if (items.length % 2 !== 0) this.fail('odd number of items for key/value pairs');
    for (let i = 0; i < items.length; i += 2) dict.set(this.key(items[i]), items[i + 1]);
  }

  private key(value: PickleValue): PickleKey {
    return this.guard(() => toKey(value)) as PickleKey;
  }

  private memoGet(index: number): PickleValue {
    const value = this.memo.get(index);
    if (value === undefined) this.fail(`memo has no entry ${index}`);
    return value;
  }

  private memoIndex(text: string): number {
    if (!/^[0-9]{1,15}$/.test(text)) this.fail(`bad memo index ${JSON.stringify(text.slice(0, 32))}`);
    return Number(text);
  }

  // --- reading arguments ------------------------------------------------------

  /** `n` bytes of argument, as a view; checked against the remaining input before anything else. */
  private take(n: number): Uint8Array {
    if (n > this.bytes.length - this.pos) {
      this.fail(`argument of ${n} bytes runs past the end of the input (truncated)`);
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private uint32(): number {
    const x = this.take(4);
    return (x[0] | (x[1] << 8) | (x[2] << 16) | (x[3] << 24)) >>> 0;
  }

  /** A little-endian length field of `size` bytes; the length it states must fit the remaining input. */
  private length(size: 4 | 8, signed = false): number {
    let value = this.uint32();
    if (signed && value >= 0x8000_0000) this.fail('negative length');
    // Past 2^53 the sum loses precision, harmlessly: it still exceeds what is left.
    if (size === 8) value += this.uint32() * 0x1_0000_0000;
    if (value > this.bytes.length - this.pos) {
      this.fail(`length ${value} exceeds the ${this.bytes.length - this.pos} bytes left (truncated or corrupt)`);
    }
    return value;
  }

  /** Bytes up to the next newline (protocol 0 arguments), newline consumed. */
  private line(): Uint8Array {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail('text argument has no newline (truncated)');
    const out = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    return out;
  }

  private textLine(): string {
    return this.utf8(this.line());
  }

  private utf8(raw: Uint8Array): string {
    try {
      return utf8Strict.decode(raw);
    } catch {
      this.fail('invalid UTF-8 text');
    }
  }

  private parseDecimal(text: string): number | bigint {
    const trimmed = text.trim();
    if (!isDigitString(trimmed)) this.fail(`bad integer ${JSON.stringify(trimmed.slice(0, 32))}`);
    if (trimmed.length > MAX_DECIMAL_DIGITS) this.fail(`integer of more than ${MAX_DECIMAL_DIGITS} digits`);
    return normalizeInt(BigInt(trimmed));
  }

  private parseFloat(text: string): number {
    const t = text.trim().toLowerCase();
    const special = /^([+-]?)(inf|infinity|nan)$/.exec(t);
    if (special) return special[2] === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
    if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?$/.test(t)) {
      this.fail(`bad float ${JSON.stringify(t.slice(0, 32))}`);
    }
    return Number(t);
  }

  /** The STRING opcode's argument: a quoted, backslash-escaped repr. */
  private unquote(raw: Uint8Array): Uint8Array {
    const q = raw[0];
    if (raw.length < 2 || (q !== 0x27 && q !== 0x22) || raw[raw.length - 1] !== q) {
      this.fail('STRING argument must be quoted');
    }
    return decodeEscapes(raw.subarray(1, raw.length - 1));
  }

  private fail(message: string): never {
    const name = this.op < 0 ? 'EOF' : (OPCODE_NAMES[this.op] ?? `0x${this.op.toString(16).padStart(2, '0')}`);
    const where = this.options.context ? ` in ${this.options.context}` : '';
    throw new PickleError(
      `pickle${where}: ${name} at offset ${this.opStart}: ${message}`,
      this.options.file,
      this.opStart,
      name,
    );
  }
}

function normalizedName(global: PickleGlobal): string {
  return `${MODULE_ALIASES[global.module] ?? global.module}.${global.name}`;
}

function normalizeInt(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Little-endian two's complement, as LONG1/LONG4 store Python ints. */
function decodeLong(raw: Uint8Array): number | bigint {
  const n = raw.length;
  if (n === 0) return 0;
  if (n <= 6) {
    let value = 0;
    for (let i = n - 1; i >= 0; i--) value = value * 256 + raw[i];
    return raw[n - 1] & 0x80 ? value - 2 ** (8 * n) : value;
  }
  let hex = '';
  for (let i = n - 1; i >= 0; i--) hex += raw[i].toString(16).padStart(2, '0');
  let value = BigInt(`0x${hex}`);
  if (raw[n - 1] & 0x80) value -= 1n << BigInt(8 * n);
  return normalizeInt(value);
}

/** Python 2 `str`: text when it is valid UTF-8 (what torch.load assumes), else the raw bytes. */
function decodePy2String(raw: Uint8Array): string | Uint8Array {
  try {
    return utf8Strict.decode(raw);
  } catch {
    return raw;
  }
}

const SIMPLE_ESCAPES: Record<number, number> = {
  0x5c: 0x5c, 0x27: 0x27, 0x22: 0x22, 0x61: 0x07, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x76: 0x0b,
};

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** `codecs.escape_decode`: what Python applies to a STRING argument. Output never exceeds input. */
function decodeEscapes(raw: Uint8Array): Uint8Array {
  const out = new Uint8Array(raw.length);
  let o = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c !== 0x5c || i + 1 >= raw.length) {
      out[o++] = c;
      continue;
    }
    const e = raw[++i];
    if (SIMPLE_ESCAPES[e] !== undefined) {
      out[o++] = SIMPLE_ESCAPES[e];
    } else if (e === 0x0a) {
      // backslash-newline: line continuation, nothing emitted
    } else if (e >= 0x30 && e <= 0x37) {
      let value = e - 0x30;
      for (let k = 0; k < 2 && i + 1 < raw.length && raw[i + 1] >= 0x30 && raw[i + 1] <= 0x37; k++) {
        value = value * 8 + (raw[++i] - 0x30);
      }
      out[o++] = value & 0xff;
    } else if (e === 0x78 && i + 2 < raw.length && hexDigit(raw[i + 1]) >= 0 && hexDigit(raw[i + 2]) >= 0) {
      out[o++] = hexDigit(raw[i + 1]) * 16 + hexDigit(raw[i + 2]);
      i += 2;
    } else {
      out[o++] = 0x5c;
      out[o++] = e;
    }
  }
  return out.subarray(0, o);
}

/** `raw-unicode-escape`: latin-1 bytes, except \uXXXX and \UXXXXXXXX. */
function decodeRawUnicodeEscape(raw: Uint8Array): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === 0x5c && i + 1 < raw.length && (raw[i + 1] === 0x75 || raw[i + 1] === 0x55)) {
      const digits = raw[i + 1] === 0x75 ? 4 : 8;
      let code = 0;
      let ok = i + 1 + digits < raw.length;
      for (let k = 0; ok && k < digits; k++) {
        const d = hexDigit(raw[i + 2 + k]);
        if (d < 0) ok = false;
        else code = code * 16 + d;
      }
      if (ok && code <= 0x10ffff) {
        out += String.fromCodePoint(code);
        i += 1 + digits;
        continue;
      }
    }
    out += String.fromCharCode(c);
  }
  return out;
}
