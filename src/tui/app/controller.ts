/**
 * The TUI's state and the only place that talks to the model (through an
 * Engine): the file list and its filter, the selection, the face shown of
 * each group photo, the mixing choices, seed and truncation, what is being
 * computed, and caches of everything computed (w and crop per face of each
 * image; every decoded image by what it was decoded from), so going back to
 * an image or a mix is instant. A status message lasts until the next one,
 * or until another image is shown.
 *
 * Work is scheduled "latest wins": at most one request is in flight; when
 * it ends, the next thing the current view still lacks is requested (a
 * refinement asked for with 'f' first: its w then replaces E(x)'s for that
 * face, in reconstruction and mixing).
 * Results for images that are no longer shown are kept (cached). Esc
 * cancels: the request in flight is forgotten (its result, when it comes,
 * is ignored; a refinement is stopped too) and nothing new starts until the
 * next change.
 *
 * Components read snapshots (useSyncExternalStore) and call the actions.
 * No React and no tfjs here.
 */
import path from 'node:path';
import { access } from 'node:fs/promises';
import { broadcastStyles, mixStyles, styleLevels, type Styles } from '../../api/latents.js';
import { readRgb, resize, writePng, type RawImage } from '../../image/image.js';
import type { Encoded, Engine, ModelInfo } from './engine.js';

export type ViewName = 'browse' | 'mix';
export type Side = 'A' | 'B';

/** A mixing level the model has (api/latents.ts levelRanges: the reference's split from 64x64 up, by resolution below). */
export type LevelInfo = ReturnType<typeof styleLevels>[number];
export { styleLevels };

export interface PaneState {
  title: string;
  /** 'face 2/3' for a group photo ([ and ] step through them), else ''. */
  face: string;
  image: RawImage | null;
  /** Shown instead of (or under) the image: 'encoding…', an error, ... */
  note: string;
  error: boolean;
}

export interface StatusMessage {
  kind: 'info' | 'ok' | 'error';
  text: string;
}

export interface TuiSnapshot {
  info: ModelInfo;
  files: readonly string[];
  /** Indices into files that pass the filter, in order. */
  visible: readonly number[];
  /** Position in `visible` (-1: nothing visible). */
  cursor: number;
  /** The selected file's index, or null. */
  selected: number | null;
  filter: string;
  /** Typing goes to the filter. */
  filtering: boolean;
  view: ViewName;
  a: number | null;
  b: number | null;
  levels: readonly LevelInfo[];
  /** Where each level's styles come from, A or B (same order as levels). */
  choice: readonly Side[];
  seed: number;
  /** Truncation psi, 0..1 (1: none). */
  psi: number;
  help: boolean;
  busy: { label: string; since: number } | null;
  status: StatusMessage | null;
  /** The image panes of the current view, left to right. */
  panes: readonly PaneState[];
  /** Files whose encoding failed, with the reason. */
  failed: ReadonlyMap<string, string>;
}

export interface ControllerOptions {
  /** Noise seed to start with (default 0, like the API). */
  seed?: number;
  /** Truncation psi to start with (default 1: none). */
  psi?: number;
  /** Where `save` writes (default: the current folder). */
  outDir?: string;
  /** New seeds for re-roll (default: random). */
  nextSeed?: () => number;
  /** Load a photo for preview while it is encoded (default: read and shrink to 256 px). */
  loadPhoto?: (file: string) => Promise<RawImage>;
  now?: () => number;
  /** Decoded images kept (default 300). */
  cacheSize?: number;
}

interface Job {
  label: string;
  /** Runs the request (`progress` relabels it while it runs); resolves to a function that stores the result. */
  run: (progress: (label: string) => void) => Promise<() => void>;
  onError: (message: string) => void;
  /** Stops the work itself on Esc (a refinement), not only its result. */
  abort?: AbortController;
}

async function defaultPhoto(file: string): Promise<RawImage> {
  const img = await readRgb(file);
  const scale = 256 / Math.max(img.width, img.height);
  if (scale >= 1) return img;
  return resize(img, Math.max(1, Math.round(img.width * scale)), Math.max(1, Math.round(img.height * scale)));
}

/** The file name without folder and extension (for saved files). */
function stem(file: string): string {
  return path.basename(file, path.extname(file)).replace(/[^\w.-]+/g, '_') || 'image';
}

/** A message without the file path the library prefixes (the list shows which file). */
function shortError(file: string, message: string): string {
  const m = message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
  return `${path.basename(file)}: ${m}`;
}

export class TuiController {
  readonly engine: Engine;
  readonly info: ModelInfo;
  readonly files: readonly string[];
  readonly levels: readonly LevelInfo[];
  readonly outDir: string;

  private filter = '';
  private filtering = false;
  private visible: number[];
  private cursor: number;
  private view: ViewName = 'browse';
  private a: number | null = null;
  private b: number | null = null;
  private choice: Side[];
  private seed: number;
  private psiTenths: number;
  private help = false;
  private busy: { label: string; since: number } | null = null;
  private status: StatusMessage | null = null;

  /** Every face of each encoded image. */
  private encoded = new Map<string, Encoded[]>();
  /** Refined w by face (`file#face`): used instead of E(x)'s from then on, reconstruction and mixing alike. */
  private refined = new Map<string, Float32Array>();
  /** Faces (`file#face`) the user asked to refine ('f'), refined when shown. */
  private refineWanted = new Set<string>();
  /** The face shown of each image (default: the largest). */
  private faceChoice = new Map<string, number>();
  private failed = new Map<string, string>();
  private decoded = new Map<string, RawImage>();
  private decodeFailed = new Map<string, string>();
  private photos = new Map<string, RawImage | null>();
  /** Per pane slot: what it showed last and for which file(s), to keep it up while an update is computed. */
  private lastShown = new Map<string, { owner: string; image: RawImage }>();

  private running: { token: number; label: string; abort?: AbortController } | null = null;
  private nextToken = 1;
  private paused = false;
  private disposed = false;

  private listeners = new Set<() => void>();
  private snap: TuiSnapshot;
  private readonly opts: ControllerOptions;
  private readonly now: () => number;
  private readonly cacheSize: number;

  constructor(engine: Engine, files: readonly string[], opts: ControllerOptions = {}) {
    this.engine = engine;
    this.info = engine.info;
    this.files = [...files];
    this.levels = styleLevels(engine.info.styleSlots);
    this.choice = this.levels.map(() => 'A');
    this.seed = opts.seed ?? 0;
    this.psiTenths = Math.round((opts.psi ?? 1) * 10);
    this.outDir = opts.outDir ?? process.cwd();
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.cacheSize = opts.cacheSize ?? 300;
    this.visible = this.files.map((_, i) => i);
    this.cursor = this.files.length ? 0 : -1;
    this.pump();
    this.loadPhotos();
    this.snap = this.build();
  }

  // ---- store -------------------------------------------------------------

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getSnapshot = (): TuiSnapshot => this.snap;

  private emit(): void {
    if (this.disposed) return;
    this.loadPhotos();
    this.snap = this.build();
    for (const fn of [...this.listeners]) fn();
  }

  /** Something the view needs may have changed: resume work and redraw. */
  private touch(): void {
    this.paused = false;
    this.pump();
    this.emit();
  }

  // ---- derived -------------------------------------------------------------

  get psi(): number {
    return this.psiTenths / 10;
  }

  private selectedIndex(): number | null {
    return this.cursor >= 0 && this.cursor < this.visible.length ? this.visible[this.cursor] : null;
  }

  private selectedFile(): string | null {
    const i = this.selectedIndex();
    return i === null ? null : this.files[i];
  }

  /** The face of `file` shown now (encoded), or undefined. */
  private faceOf(file: string): Encoded | undefined {
    const faces = this.encoded.get(file);
    return faces?.[this.faceIndex(file)];
  }

  private faceIndex(file: string): number {
    const chosen = this.faceChoice.get(file);
    if (chosen !== undefined) return chosen;
    const faces = this.encoded.get(file) ?? [];
    return faces.reduce((best, f, i) => (f.area > faces[best].area ? i : best), 0);
  }

  /** `file#face`: a face. */
  private faceId(file: string): string {
    return `${file}#${this.faceIndex(file)}`;
  }

  /** What a decoded image was made from: the face, and whether its w is the refined one. */
  private faceTag(file: string): string {
    const id = this.faceId(file);
    return this.refined.has(id) ? `${id}+refined` : id;
  }

  /** The w shown for the face of `file`: the refined one once there is one. */
  private wOf(file: string, e: Encoded): Float32Array {
    return this.refined.get(this.faceId(file)) ?? e.w;
  }

  private faceLabel(file: string): string {
    const n = this.encoded.get(file)?.length ?? 0;
    return n > 1 ? `face ${this.faceIndex(file) + 1}/${n}` : '';
  }

  private mixFiles(): { a: string; b: string } | null {
    if (this.a === null || this.b === null) return null;
    return { a: this.files[this.a], b: this.files[this.b] };
  }

  private decodeTag(): string {
    return `${this.seed}\0${this.psiTenths}`;
  }

  private reconKey(file: string): string {
    return `rec\0${this.faceTag(file)}\0${this.decodeTag()}`;
  }

  /** A mix of all-A (or all-B) styles is that face's reconstruction: same key, same pixels. */
  private mixKey(a: string, b: string): string {
    if (this.choice.every((c) => c === 'A') || this.faceTag(a) === this.faceTag(b)) return this.reconKey(a);
    if (this.choice.every((c) => c === 'B')) return this.reconKey(b);
    return `mix\0${this.faceTag(a)}\0${this.faceTag(b)}\0${this.choice.join('')}\0${this.decodeTag()}`;
  }

  private mixedStyles(wa: Float32Array, wb: Float32Array): Float32Array {
    const slots = this.info.styleSlots;
    const size = this.info.latentSize;
    let s: Styles = broadcastStyles({ kind: 'w', count: 1, size, data: wa }, slots);
    const src = { kind: 'w' as const, count: 1, size, data: wb };
    this.levels.forEach((l, i) => {
      if (this.choice[i] === 'B') s = mixStyles(s, src, [l.from, l.to], slots);
    });
    return s.data;
  }

  // ---- scheduling ----------------------------------------------------------

  private encodeJob(file: string): Job {
    return {
      label: `encoding ${path.basename(file)}`,
      run: async () => {
        const r = await this.engine.encode(file);
        return () => {
          this.encoded.set(file, r);
          if (r.length > 1) this.status = { kind: 'info', text: `${path.basename(file)}: ${r.length} faces, the largest shown ([ and ] step through them)` };
        };
      },
      onError: (message) => {
        this.failed.set(file, shortError(file, message));
        this.status = { kind: 'error', text: shortError(file, message) };
      },
    };
  }

  private refineJob(file: string, e: Encoded): Job {
    const id = this.faceId(file);
    const name = path.basename(file);
    const abort = new AbortController();
    const seed = this.seed;
    return {
      label: `refining ${name}`,
      abort,
      run: async (progress) => {
        let done = 0;
        const w = await this.engine.refine({ crop: e.crop, seed }, (step, steps) => {
          done = step;
          progress(`refining ${name}: step ${step}/${steps}`);
        }, abort.signal);
        return () => {
          this.refined.set(id, w);
          this.refineWanted.delete(id);
          this.status = { kind: 'ok', text: `${name}: refined (${done} steps from E(x), noise seed ${seed}); mixing uses it too` };
        };
      },
      onError: (message) => {
        this.refineWanted.delete(id);
        this.status = { kind: 'error', text: shortError(file, message) };
      },
    };
  }

  private decodeJob(key: string, label: string, styles: () => Float32Array): Job {
    const seed = this.seed;
    const psi = this.psi;
    return {
      label,
      run: async () => {
        const img = await this.engine.decode({ styles: styles(), seed, psi });
        return () => this.remember(key, img);
      },
      onError: (message) => {
        this.decodeFailed.set(key, message);
        this.status = { kind: 'error', text: message };
      },
    };
  }

  private remember(key: string, img: RawImage): void {
    this.decoded.delete(key);
    this.decoded.set(key, img);
    while (this.decoded.size > this.cacheSize) this.decoded.delete(this.decoded.keys().next().value as string);
  }

  private reconJob(file: string): Job | null {
    const key = this.reconKey(file);
    const e = this.faceOf(file);
    if (!e || this.decoded.has(key) || this.decodeFailed.has(key)) return null;
    const slots = this.info.styleSlots;
    const w = this.wOf(file, e);
    return this.decodeJob(key, `decoding ${path.basename(file)}`, () => broadcastStyles({ kind: 'w', count: 1, size: this.info.latentSize, data: w }, slots).data);
  }

  /** A refinement asked for of a face shown (encoded, not refined yet), or null. */
  private wantedRefine(files: (string | null)[]): Job | null {
    for (const f of files) {
      const e = f ? this.faceOf(f) : undefined;
      if (f && e && this.refineWanted.has(this.faceId(f)) && !this.refined.has(this.faceId(f))) return this.refineJob(f, e);
    }
    return null;
  }

  /** What the current view still lacks, most wanted first. */
  private nextJob(): Job | null {
    const needEncode = (file: string | null): Job | null => (file && !this.encoded.has(file) && !this.failed.has(file) ? this.encodeJob(file) : null);
    if (this.view === 'browse') {
      const f = this.selectedFile();
      return needEncode(f) ?? this.wantedRefine([f]) ?? (f ? this.reconJob(f) : null);
    }
    const m = this.mixFiles();
    if (!m) return null;
    const enc = needEncode(m.a) ?? needEncode(m.b) ?? this.wantedRefine([m.a, m.b]);
    if (enc) return enc;
    const ea = this.faceOf(m.a);
    const eb = this.faceOf(m.b);
    if (ea && eb) {
      const key = this.mixKey(m.a, m.b);
      if (!this.decoded.has(key) && !this.decodeFailed.has(key)) {
        const [wa, wb] = [this.wOf(m.a, ea), this.wOf(m.b, eb)];
        return this.decodeJob(key, 'mixing', () => this.mixedStyles(wa, wb));
      }
    }
    return (ea ? this.reconJob(m.a) : null) ?? (eb ? this.reconJob(m.b) : null);
  }

  private pump(): void {
    if (this.running || this.paused || this.disposed) return;
    const job = this.nextJob();
    if (!job) {
      this.busy = null;
      return;
    }
    const token = this.nextToken++;
    this.running = { token, label: job.label, abort: job.abort };
    const since = this.now();
    this.busy = { label: job.label, since };
    const current = () => this.running?.token === token;
    const progress = (label: string) => {
      if (this.disposed || !current()) return;
      this.busy = { label, since };
      this.emit();
    };
    job.run(progress).then(
      (store) => {
        if (this.disposed) return;
        // A cancelled request's result is ignored; one that is merely no longer shown is kept.
        if (current()) store();
      },
      (e: unknown) => {
        if (this.disposed || !current()) return;
        job.onError(e instanceof Error ? e.message : String(e));
      },
    ).finally(() => {
      if (this.disposed || !current()) return;
      this.running = null;
      this.busy = null;
      this.pump();
      this.emit();
    });
  }

  /** Is anything being computed (for tests and the spinner)? */
  get working(): boolean {
    return this.running !== null;
  }

  /** Resolves when nothing is being computed (or paused). */
  async idle(timeoutMs = 30_000): Promise<void> {
    const t0 = Date.now();
    while (this.running) {
      if (Date.now() - t0 > timeoutMs) throw new Error('controller: still working');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  // ---- photos --------------------------------------------------------------

  private loadPhotos(): void {
    if (this.view !== 'browse') return;
    const f = this.selectedFile();
    if (!f || this.photos.has(f) || this.encoded.has(f)) return;
    this.photos.set(f, null);
    (this.opts.loadPhoto ?? defaultPhoto)(f).then(
      (img) => {
        this.photos.set(f, img);
        if (this.selectedFile() === f && !this.encoded.has(f)) this.emit();
      },
      () => undefined, // encoding reports the reason
    );
  }

  // ---- snapshot ------------------------------------------------------------

  private pane(slot: string, owner: string, title: string, image: RawImage | null, pending: string, error: string | null, face = ''): PaneState {
    if (image) {
      this.lastShown.set(slot, { owner, image });
      return { title, face, image, note: '', error: false };
    }
    if (error) return { title, face, image: null, note: error, error: true };
    const last = this.lastShown.get(slot);
    if (last && last.owner === owner) return { title, face, image: last.image, note: pending, error: false };
    return { title, face, image: null, note: pending, error: false };
  }

  private panes(): PaneState[] {
    const running = this.running?.label ?? '';
    const waiting = (what: string) => (running === what ? `${what}…` : this.paused ? 'cancelled (any change resumes)' : 'waiting…');
    if (this.view === 'browse') {
      const f = this.selectedFile();
      if (!f) return [];
      const name = path.basename(f);
      const enc = this.faceOf(f);
      const err = this.failed.get(f) ?? null;
      const photo = enc?.crop ?? this.photos.get(f) ?? null;
      const photoPane = this.pane('photo', this.faceTag(f), enc ? `${name} (as the model sees it)` : name, photo, waiting(`encoding ${name}`), err, this.faceLabel(f));
      if (!enc && photo && !err) photoPane.note = waiting(`encoding ${name}`);
      const key = this.reconKey(f);
      const rec = this.decoded.get(key) ?? null;
      const refined = this.refined.has(this.faceId(f));
      const recPane = this.pane('recon', this.faceTag(f), refined ? 'reconstruction (refined)' : 'reconstruction', rec, enc ? waiting(`decoding ${name}`) : 'after encoding', err ? '—' : (this.decodeFailed.get(key) ?? null), this.faceLabel(f));
      return [photoPane, recPane];
    }
    const m = this.mixFiles();
    if (!m) return [];
    const side = (label: Side, file: string): PaneState => {
      const name = path.basename(file);
      const enc = this.faceOf(file);
      const err = this.failed.get(file) ?? null;
      const key = this.reconKey(file);
      const img = this.decoded.get(key) ?? enc?.crop ?? null;
      return this.pane(`mix${label}`, this.faceTag(file), `${label}: ${name}`, img, enc ? waiting(`decoding ${name}`) : waiting(`encoding ${name}`), err ?? this.decodeFailed.get(key) ?? null, this.faceLabel(file));
    };
    const ea = this.faceOf(m.a);
    const eb = this.faceOf(m.b);
    const bad = this.failed.get(m.a) ?? this.failed.get(m.b) ?? null;
    const key = ea && eb ? this.mixKey(m.a, m.b) : '';
    const mixed = key ? (this.decoded.get(key) ?? null) : null;
    const mixTitle = `mix: ${this.levels.map((l, i) => `${l.name} ${this.choice[i]}`).join(', ')}`;
    const mixPane = this.pane('mix', `${this.faceTag(m.a)}\0${this.faceTag(m.b)}`, mixTitle, mixed, ea && eb ? waiting('mixing') : 'after encoding', bad ? 'needs both faces' : key ? (this.decodeFailed.get(key) ?? null) : null);
    return [side('A', m.a), side('B', m.b), mixPane];
  }

  private build(): TuiSnapshot {
    return {
      info: this.info,
      files: this.files,
      visible: this.visible,
      cursor: this.cursor,
      selected: this.selectedIndex(),
      filter: this.filter,
      filtering: this.filtering,
      view: this.view,
      a: this.a,
      b: this.b,
      levels: this.levels,
      choice: [...this.choice],
      seed: this.seed,
      psi: this.psi,
      help: this.help,
      busy: this.busy,
      status: this.status,
      panes: this.panes(),
      failed: new Map(this.failed),
    };
  }

  // ---- actions: list -------------------------------------------------------

  /** Move the selection by delta (clamped). */
  move(delta: number): void {
    if (this.visible.length === 0) return;
    const next = Math.max(0, Math.min(this.visible.length - 1, this.cursor + delta));
    if (next === this.cursor) return;
    this.cursor = next;
    this.status = null; // another image: the last message was about something else
    this.touch();
  }

  moveTo(position: 'first' | 'last'): void {
    if (this.visible.length === 0) return;
    this.move(position === 'first' ? -this.cursor : this.visible.length - 1 - this.cursor);
  }

  private applyFilter(): void {
    const keep = this.selectedIndex();
    const terms = this.filter.toLowerCase().split(/\s+/).filter(Boolean);
    this.visible = this.files.map((_, i) => i).filter((i) => terms.every((t) => this.files[i].toLowerCase().includes(t)));
    const at = keep === null ? -1 : this.visible.indexOf(keep);
    this.cursor = at >= 0 ? at : this.visible.length ? 0 : -1;
    if (this.selectedIndex() !== keep) this.status = null;
  }

  startFilter(): void {
    this.filtering = true;
    this.emit();
  }

  /** Typed text goes to the filter (while filtering). */
  typeFilter(text: string): void {
    this.filter += text;
    this.applyFilter();
    this.touch();
  }

  backspaceFilter(): void {
    if (!this.filter) return;
    this.filter = this.filter.slice(0, -1);
    this.applyFilter();
    this.touch();
  }

  /** Enter: keep the filter, back to the keys. */
  acceptFilter(): void {
    this.filtering = false;
    this.emit();
  }

  clearFilter(): void {
    this.filtering = false;
    if (this.filter) {
      this.filter = '';
      this.applyFilter();
      this.touch();
    } else {
      this.emit();
    }
  }

  // ---- actions: views and mixing -----------------------------------------------

  setView(view: ViewName): void {
    if (view === this.view) return;
    if (view === 'mix') {
      if (this.files.length === 0) return;
      const sel = this.selectedIndex() ?? 0;
      const n = this.files.length;
      const other = (i: number) => (n > 1 ? (i + 1) % n : i);
      if (this.a === null && this.b === null) {
        this.a = sel;
        this.b = other(sel);
      } else if (this.a === null) {
        this.a = this.b === sel ? other(sel) : sel;
      } else if (this.b === null) {
        this.b = this.a === sel ? other(sel) : sel;
      }
    }
    this.view = view;
    this.touch();
  }

  toggleView(): void {
    this.setView(this.view === 'browse' ? 'mix' : 'browse');
  }

  /** The selection becomes A (or B). */
  pick(side: Side): void {
    const sel = this.selectedIndex();
    if (sel === null) return;
    if (side === 'A') this.a = sel;
    else this.b = sel;
    this.status = { kind: 'info', text: `${side} = ${path.basename(this.files[sel])}` };
    this.touch();
  }

  /** Step A (or B) through the files. */
  step(side: Side, delta: number): void {
    const n = this.files.length;
    if (n === 0) return;
    const cur = (side === 'A' ? this.a : this.b) ?? 0;
    const next = (((cur + delta) % n) + n) % n;
    if (side === 'A') this.a = next;
    else this.b = next;
    this.status = null;
    this.touch();
  }

  /**
   * Step through the faces of a group photo: the selected image's when
   * browsing; A's (or B's, `side`) when mixing. Says so when the image has
   * only one face (or is not encoded yet).
   */
  stepFace(delta: number, side: Side = 'A'): void {
    const file = this.view === 'browse' ? this.selectedFile() : this.mixFiles()?.[side === 'A' ? 'a' : 'b'];
    if (!file) return;
    const faces = this.encoded.get(file);
    if (!faces || faces.length < 2) {
      this.setStatus({ kind: 'info', text: faces ? `${path.basename(file)} has one face` : `${path.basename(file)}: its faces are not found yet` });
      return;
    }
    const next = (((this.faceIndex(file) + delta) % faces.length) + faces.length) % faces.length;
    this.faceChoice.set(file, next);
    this.status = { kind: 'info', text: `${path.basename(file)}: face ${next + 1} of ${faces.length}` };
    this.touch();
  }

  /** Take level i's styles from the other side. */
  toggleLevel(i: number): void {
    if (i < 0 || i >= this.levels.length) return;
    this.choice[i] = this.choice[i] === 'A' ? 'B' : 'A';
    this.touch();
  }

  /** Swap A and B. */
  swap(): void {
    [this.a, this.b] = [this.b, this.a];
    this.touch();
  }

  // ---- actions: decoding ---------------------------------------------------

  /** Truncation up (+1) or down (-1) by 0.1, within [0, 1]. */
  truncation(dir: 1 | -1): void {
    const next = Math.max(0, Math.min(10, this.psiTenths + dir));
    if (next === this.psiTenths) return;
    this.psiTenths = next;
    this.status = { kind: 'info', text: next === 10 ? 'truncation off (ψ 1.0)' : `truncation ψ ${this.psi.toFixed(1)}` };
    this.touch();
  }

  /** A new noise seed. */
  reroll(): void {
    this.seed = this.opts.nextSeed ? this.opts.nextSeed() : Math.floor(Math.random() * 2 ** 31);
    this.status = { kind: 'info', text: `noise seed ${this.seed}` };
    this.touch();
  }

  // ---- actions: other --------------------------------------------------------

  toggleHelp(): void {
    this.help = !this.help;
    this.emit();
  }

  closeHelp(): void {
    if (!this.help) return;
    this.help = false;
    this.emit();
  }

  /**
   * 'f': refine the face shown (browse) or A's and B's (mix) in the worker,
   * with progress; Esc cancels. The refined w is kept and used from then on.
   */
  refine(): void {
    const files = this.view === 'browse' ? [this.selectedFile()] : [this.mixFiles()?.a ?? null, this.mixFiles()?.b ?? null];
    const shown = files.filter((f): f is string => f !== null && this.faceOf(f) !== undefined).map((f) => this.faceId(f));
    const todo = shown.filter((id) => !this.refined.has(id));
    if (todo.length === 0) {
      this.setStatus({ kind: 'info', text: shown.length ? 'refined already' : 'nothing to refine yet (the face is not found yet)' });
      return;
    }
    for (const id of todo) this.refineWanted.add(id);
    this.touch();
  }

  /** Esc: forget the request in flight (its result will be ignored; a refinement stops). */
  cancel(): boolean {
    if (!this.running) return false;
    const label = this.running.label;
    this.running.abort?.abort();
    this.refineWanted.clear();
    this.running = null;
    this.busy = null;
    this.paused = true;
    this.status = { kind: 'info', text: `cancelled ${label}` };
    this.emit();
    return true;
  }

  setStatus(s: StatusMessage | null): void {
    this.status = s;
    this.emit();
  }

  /** The image on screen that `save` would write, and a file name for it. */
  current(): { image: RawImage; name: string } | null {
    const tag = `seed${this.seed}${this.psiTenths < 10 ? `-psi${this.psi.toFixed(1)}` : ''}`;
    if (this.view === 'browse') {
      const f = this.selectedFile();
      const img = f ? this.decoded.get(this.reconKey(f)) : undefined;
      return f && img ? { image: img, name: `${this.saveStem(f)}-recon-${tag}.png` } : null;
    }
    const m = this.mixFiles();
    if (!m || !this.encoded.has(m.a) || !this.encoded.has(m.b)) return null;
    const img = this.decoded.get(this.mixKey(m.a, m.b));
    return img ? { image: img, name: `mix-${this.saveStem(m.a)}-${this.saveStem(m.b)}-${this.choice.join('')}-${tag}.png` } : null;
  }

  /** A file's part of a saved name: its stem, the face of a group photo, and whether it is refined. */
  private saveStem(file: string): string {
    const face = (this.encoded.get(file)?.length ?? 0) > 1 ? `${stem(file)}-face${this.faceIndex(file) + 1}` : stem(file);
    return this.refined.has(this.faceId(file)) ? `${face}-refined` : face;
  }

  /** Write the current image as a PNG (a new name, never overwriting); its path, or null. */
  async save(): Promise<string | null> {
    const cur = this.current();
    if (!cur) {
      this.setStatus({ kind: 'error', text: 'nothing to save yet (wait for the image)' });
      return null;
    }
    const base = cur.name.replace(/\.png$/, '');
    let file = path.resolve(this.outDir, cur.name);
    for (let k = 2; await exists(file); k++) file = path.resolve(this.outDir, `${base}-${k}.png`);
    try {
      await writePng(file, cur.image);
    } catch (e) {
      this.setStatus({ kind: 'error', text: `cannot save ${file}: ${e instanceof Error ? e.message : String(e)}` });
      return null;
    }
    this.setStatus({ kind: 'ok', text: `saved ${file}` });
    return file;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.listeners.clear();
    await this.engine.dispose();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
