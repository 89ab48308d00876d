/**
 * What one iteration asks of the WebGPU device: compute dispatches, keyed by the label of the
 * pipeline each runs, and the bytes of live GPU buffers. It wraps the prototypes of
 * GPUComputePassEncoder (setPipeline, dispatchWorkgroups, dispatchWorkgroupsIndirect),
 * GPUDevice (createBuffer) and GPUBuffer (destroy): the one point every WGSL runner passes,
 * tfjs's own and ours alike, so a kernel registered later is counted without more code.
 * tfjs labels a pipeline with its program's class name (BinaryOpProgram); a runner of our
 * own should label its pipelines too, or they count as '(unlabelled)'.
 */

/** Attributes of a dispatch read when it is encoded (e.g. the tfjs kernel running, the phase). */
export type DispatchAttributes = Record<string, () => string>;

export interface GpuWindow {
  /** Dispatches by program (the pipeline's label without a trailing "Program"). */
  dispatches: Map<string, number>;
  /** Dispatches by the value of each attribute given to begin(), in the order first seen. */
  dispatchesBy: Record<string, Map<string, number>>;
  /** The most bytes in live GPU buffers at any point of the window (buffers made since install). */
  peakBufferBytes: number;
}

export interface GpuTrace {
  /** Start counting dispatches (also by `attributes`) and tracking the peak from the bytes live now. */
  begin(attributes?: DispatchAttributes): void;
  /** What was seen since begin(). */
  end(): GpuWindow;
  /** Put the prototypes back. */
  uninstall(): void;
}

type Method = (...args: unknown[]) => unknown;
interface Proto {
  [name: string]: unknown;
}

function proto(name: string): Proto | null {
  const c = (globalThis as Record<string, unknown>)[name] as { prototype?: Proto } | undefined;
  return c?.prototype ?? null;
}

const UNLABELLED = '(unlabelled)';

export function programName(label: unknown): string {
  return typeof label === 'string' && label ? label.replace(/Program$/, '') : UNLABELLED;
}

/**
 * Install the wrappers, or return null where WebGPU's classes are not there (another backend).
 * Install before the buffers to be counted are made: buffers made earlier are not tracked.
 */
export function installGpuTrace(): GpuTrace | null {
  const pass = proto('GPUComputePassEncoder');
  const device = proto('GPUDevice');
  const buffer = proto('GPUBuffer');
  if (!pass || !device || !buffer) return null;
  const restore: Array<() => void> = [];
  const wrap = (p: Proto, name: string, make: (orig: Method) => Method): void => {
    const orig = p[name] as Method | undefined;
    if (typeof orig !== 'function') return;
    const own = Object.prototype.hasOwnProperty.call(p, name);
    p[name] = make(orig);
    restore.push(() => {
      if (own) p[name] = orig;
      else delete p[name];
    });
  };

  const pipelineOf = new WeakMap<object, string>();
  const sizes = new WeakMap<object, number>();
  let counting = false;
  let dispatches = new Map<string, number>();
  let attributes: DispatchAttributes = {};
  let dispatchesBy: Record<string, Map<string, number>> = {};
  let live = 0;
  let peak = 0;
  const add = (m: Map<string, number>, k: string): void => {
    m.set(k, (m.get(k) ?? 0) + 1);
  };
  const count = (encoder: object): void => {
    if (!counting) return;
    add(dispatches, pipelineOf.get(encoder) ?? UNLABELLED);
    for (const name in attributes) add(dispatchesBy[name], attributes[name]());
  };

  wrap(pass, 'setPipeline', (orig) => function (this: object, ...a: unknown[]) {
    pipelineOf.set(this, programName((a[0] as { label?: unknown } | undefined)?.label));
    return orig.apply(this, a);
  });
  for (const m of ['dispatchWorkgroups', 'dispatchWorkgroupsIndirect']) {
    wrap(pass, m, (orig) => function (this: object, ...a: unknown[]) {
      count(this);
      return orig.apply(this, a);
    });
  }
  wrap(device, 'createBuffer', (orig) => function (this: object, ...a: unknown[]) {
    const b = orig.apply(this, a) as object;
    const size = Number((a[0] as { size?: number } | undefined)?.size ?? 0);
    sizes.set(b, size);
    live += size;
    peak = Math.max(peak, live);
    return b;
  });
  wrap(buffer, 'destroy', (orig) => function (this: object, ...a: unknown[]) {
    const size = sizes.get(this);
    if (size !== undefined) {
      live -= size;
      sizes.delete(this);
    }
    return orig.apply(this, a);
  });

  return {
    begin(attrs: DispatchAttributes = {}): void {
      dispatches = new Map();
      attributes = attrs;
      dispatchesBy = Object.fromEntries(Object.keys(attrs).map((k) => [k, new Map<string, number>()]));
      peak = live;
      counting = true;
    },
    end(): GpuWindow {
      counting = false;
      return { dispatches, dispatchesBy, peakBufferBytes: peak };
    },
    uninstall(): void {
      for (const r of restore.reverse()) r();
      restore.length = 0;
    },
  };
}
