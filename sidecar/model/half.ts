/**
 * IEEE 754 half precision (1 sign, 5 exponent, 10 mantissa bits), stored as
 * uint16 bit patterns: what safetensors F16, numpy f2 and ONNX FLOAT16 hold.
 * float32 -> half rounds to nearest even; half -> float32 is exact.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A half bit pattern to a JS number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The nearest half bit pattern of a number (round to nearest even; overflow gives infinity). */
export function floatToHalf(x: number): number {
  f32[0] = x;
  return bitsToHalf(u32[0]);
}

/** float32 bits -> half bits, round to nearest even. */
function bitsToHalf(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry into the exponent is still correct
  return sign | half;
}

/** float32 values -> half bit patterns. */
export function toFloat16Array(x: Float32Array): Uint16Array {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = bitsToHalf(bits[i]);
  return out;
}

/** Half bit patterns -> float32 values (exact). */
export function fromFloat16Array(h: Uint16Array): Float32Array {
  // A 64 K-entry table: one lookup per value.
  table ??= Float32Array.from({ length: 65536 }, (_, i) => halfToFloat(i));
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = table[h[i]];
  return out;
}
let table: Float32Array | undefined;
