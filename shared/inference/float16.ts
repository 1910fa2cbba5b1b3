// IEEE 754 half precision by hand: `Float16Array` exists from Node 24 only (engines allow 22)
// and is not in the ES2024 lib this project compiles against.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
let halfToFloat: Float32Array | undefined;

/** The float16 bits nearest to `x` (round half to even; overflow → ±Infinity). */
export function toFloat16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const rawExponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (rawExponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const exponent = rawExponent - 127 + 15;
  if (exponent >= 0x1f) return sign | 0x7c00;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    // Subnormal: shift the implicit leading 1 in, rounding at the cut.
    const full = mantissa | 0x800000;
    const shift = 14 - exponent;
    const half = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (rest > midpoint || (rest === midpoint && half & 1) ? half + 1 : half);
  }
  const half = sign | (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  return rest > 0x1000 || (rest === 0x1000 && half & 1) ? half + 1 : half;
}

/** The number float16 `bits` encode. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Packs a vector as little-endian float16: 2 bytes a dimension. */
export function packFloat16(vector: ArrayLike<number>): Buffer {
  const out = Buffer.allocUnsafe(vector.length * 2);
  for (let i = 0; i < vector.length; i++) out.writeUInt16LE(toFloat16Bits(vector[i]!), i * 2);
  return out;
}

/** Unpacks little-endian float16 into `target` (at `offset`), or into a new array. */
export function unpackFloat16(
  bytes: Uint8Array,
  target: Float32Array = new Float32Array(bytes.length / 2),
  offset = 0,
): Float32Array {
  if (!halfToFloat) {
    // 256 KiB once, so decoding 100k vectors at startup is a table lookup per value.
    halfToFloat = new Float32Array(0x10000);
    for (let h = 0; h < 0x10000; h++) halfToFloat[h] = fromFloat16Bits(h);
  }
  const n = bytes.length >>> 1;
  for (let i = 0; i < n; i++) {
    target[offset + i] = halfToFloat[bytes[2 * i]! | (bytes[2 * i + 1]! << 8)]!;
  }
  return target;
}
