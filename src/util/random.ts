/**
 * Seeded random numbers that are the same on every backend and platform
 * (tfjs's own seeded ops differ between backends). PCG32 (O'Neill 2014) with
 * a state small enough to store in a checkpoint and resume exactly.
 */
export interface RngState {
  state: string; // uint64 as decimal string (JSON-safe)
  inc: string;
  spare: number | null; // cached second Box-Muller normal
}

const MASK64 = (1n << 64n) - 1n;
const MULT = 6364136223846793005n;

export class Rng {
  private state = 0n;
  private inc = 0n;
  private spare: number | null = null;

  constructor(seed: number | bigint = 0, stream: number | bigint = 54) {
    this.inc = ((BigInt(stream) << 1n) | 1n) & MASK64;
    this.state = 0n;
    this.nextU32();
    this.state = (this.state + (BigInt(seed) & MASK64)) & MASK64;
    this.nextU32();
  }

  static fromState(s: RngState): Rng {
    const r = new Rng(0);
    r.state = BigInt(s.state);
    r.inc = BigInt(s.inc);
    r.spare = s.spare;
    return r;
  }

  getState(): RngState {
    return { state: this.state.toString(), inc: this.inc.toString(), spare: this.spare };
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const old = this.state;
    this.state = (old * MULT + this.inc) & MASK64;
    const xorshifted = Number((((old >> 18n) ^ old) >> 27n) & 0xffffffffn);
    const rot = Number(old >> 59n);
    return ((xorshifted >>> rot) | (xorshifted << ((32 - rot) & 31))) >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fill a new Float32Array with standard normals. */
  normals(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
}
