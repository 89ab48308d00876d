/** Deterministic normal-ish test values (sum of three uniforms, xorshift32) so kernel failures reproduce. */
export function randArray(n: number, seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() + next() + next() - 1.5;
  return out;
}

export const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
