/**
 * A small, seeded pseudo-random number generator for sampling.
 *
 * Algorithm: xoshiro128** 1.0 (Blackman & Vigna, https://prng.di.unimi.it/),
 * a 128-bit-state generator with 32-bit outputs. It is fast in JavaScript
 * because every step is 32-bit integer arithmetic (Math.imul, shifts, xor).
 *
 * Seeding: the 64-bit seed is run through SplitMix64 (the seeding routine the
 * xoshiro authors recommend) twice; the two 64-bit outputs a, b fill the state
 * as s0 = low32(a), s1 = high32(a), s2 = low32(b), s3 = high32(b). SplitMix64
 * spreads even tiny seeds (0, 1, 2, ...) over the whole state, so nearby seeds
 * give unrelated sequences.
 *
 * Seeds are a number (a safe integer) or a bigint, taken modulo 2^64: negative
 * values wrap as two's complement, so -1 and 2^64 - 1 are the same seed.
 * Values outside [-2^63, 2^64) are rejected rather than silently truncated.
 *
 * `nextFloat()` uses two 32-bit outputs to build a 53-bit float in [0, 1), so
 * every double it can return is equally likely and 1 is never returned.
 */
import { randomBytes } from "node:crypto";

const MASK64 = (1n << 64n) - 1n;
const MIN_SEED = -(1n << 63n);
const MAX_SEED = MASK64;

/** A seed as the API accepts it. */
export type Seed = number | bigint;

/** Validates a seed and returns it as an unsigned 64-bit bigint. */
export function normalizeSeed(seed: Seed): bigint {
  let value: bigint;
  if (typeof seed === "bigint") {
    value = seed;
  } else if (typeof seed === "number" && Number.isSafeInteger(seed)) {
    value = BigInt(seed);
  } else {
    throw new RangeError(`seed must be a safe integer or a bigint, got ${String(seed)}`);
  }
  if (value < MIN_SEED || value > MAX_SEED) {
    throw new RangeError(`seed must fit in 64 bits, got ${value}`);
  }
  return BigInt.asUintN(64, value);
}

/** A fresh unpredictable 64-bit seed, for requests that did not give one. */
export function randomSeed(): bigint {
  return randomBytes(8).readBigUInt64LE(0);
}

/**
 * SplitMix64 (Steele, Lea & Flood), used only to expand a seed into state.
 * Returns the next output and the advanced state.
 */
export function splitMix64(state: bigint): { value: bigint; state: bigint } {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  z = z ^ (z >> 31n);
  return { value: z, state: next };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** xoshiro128** seeded from a 64-bit seed; see the module comment. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: Seed) {
    const first = splitMix64(normalizeSeed(seed));
    const second = splitMix64(first.state);
    const words = [
      Number(first.value & 0xffffffffn),
      Number(first.value >> 32n),
      Number(second.value & 0xffffffffn),
      Number(second.value >> 32n),
    ];
    [this.s0, this.s1, this.s2, this.s3] = words;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) {
      // The all-zero state is a fixed point; SplitMix64 never produces two
      // zero outputs in a row, but keep the invariant explicit.
      this.s0 = 1;
    }
  }

  /** Builds a generator from a raw state (for reference test vectors). */
  static fromState(state: readonly [number, number, number, number]): Rng {
    if (state.every((word) => word >>> 0 === 0)) {
      throw new RangeError("xoshiro128** state must not be all zero");
    }
    const rng = new Rng(0);
    [rng.s0, rng.s1, rng.s2, rng.s3] = state.map((word) => word >>> 0);
    return rng;
  }

  /** The next 32-bit output, as an integer in [0, 2^32). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 53 random bits (two 32-bit outputs). */
  nextFloat(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992; // (high * 2^26 + low) / 2^53
  }
}
