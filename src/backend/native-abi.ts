/**
 * What the native addon says about its own calling conventions
 * (native/bindings/addon.cc), so TypeScript keeps no copy of them: the op
 * codes of the elementwise families by tfjs kernel name (`ops`), and the field
 * order of every params Int32Array (`layouts`), both read from the C++
 * headers that define them (native/kernels/elementwise.h, conv.h, ...).
 */

/** The params arrays the addon takes, by kernel family. */
export type LayoutName = 'conv' | 'depthwise' | 'pool' | 'upsample' | 'styleEpilogue' | 'instanceStats';

export interface NativeAbi {
  /** Op codes by the tfjs kernel they implement: ewBinary, ewCompare and ewUnary take them. */
  ops: { binary: Record<string, number>; compare: Record<string, number>; unary: Record<string, number> };
  /** Field names of each params array, in the order the addon reads them. */
  layouts: Record<LayoutName, readonly string[]>;
}

/** Does this addon build export its ABI? */
export function hasAbi(addon: object): addon is NativeAbi {
  const a = addon as Partial<NativeAbi>;
  return typeof a.ops === 'object' && typeof a.layouts === 'object';
}

/**
 * A params array in the addon's field order. Every field the addon names must
 * be given (and no other): a mismatch between this build of the addon and the
 * TypeScript calling it throws here, naming the fields, instead of passing
 * shifted numbers.
 */
export function packParams(abi: NativeAbi, layout: LayoutName, fields: Readonly<Record<string, number>>): Int32Array {
  const names = abi.layouts[layout];
  const out = new Int32Array(names.length);
  for (let i = 0; i < names.length; i++) {
    const v = fields[names[i]];
    if (v === undefined) throw new Error(`native ${layout} params: no value for '${names[i]}' (the addon takes ${names.join(', ')})`);
    out[i] = v;
  }
  if (Object.keys(fields).length !== names.length) {
    const extra = Object.keys(fields).filter((k) => !names.includes(k));
    throw new Error(`native ${layout} params: the addon takes no ${extra.join(', ')} (it takes ${names.join(', ')})`);
  }
  return out;
}
