/**
 * Fast seeded standard normals for the generator's noise maps. A training
 * iteration at 1024x1024, batch 16 draws ~45M noise values per generator
 * pass, three passes per iteration; util/random.ts's PCG32 (BigInt, exact
 * and checkpointable) is slow enough at that to dominate the iteration.
 * Each noise map instead takes one 32-bit seed from the trainer's Rng (so
 * the stream stays in the checkpoint) and expands it with sfc32 (Doty-
 * Humphrey's small fast counter, 32-bit integer ops only) and the Marsaglia
 * polar method: the same numbers on every platform and backend.
 */

/** sfc32 state from a 32-bit seed, warmed up as its author recommends. */
function sfc32(seed: number): () => number {
  let a = 0x9e3779b9 | 0;
  let b = seed | 0;
  let c = (seed ^ 0x85ebca6b) | 0;
  let d = 1;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** `n` standard normals from `seed` (deterministic, platform independent). */
export function seededNormals(seed: number, n: number): Float32Array {
  const out = new Float32Array(n);
  const next = sfc32(seed >>> 0);
  const scale = 2 / 4294967296;
  let i = 0;
  while (i < n) {
    let u: number;
    let v: number;
    let s: number;
    do {
      u = next() * scale - 1;
      v = next() * scale - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    out[i++] = u * m;
    if (i < n) out[i++] = v * m;
  }
  return out;
}
