import { describe, expect, it } from "vitest";
import { fractionOfVarianceExplained } from "./encode.ts";
import {
  TopKWorkspace, evaluateTopKSae, forwardBackward, gaussian, mulberry32, trainTopKSae, transpose, zeroGrads, type TopKParams,
} from "./train.ts";

/** Vectors made of `active` atoms of a random unit dictionary [atoms, d] with magnitudes in [1, 3). */
function synthetic(d: number, atoms: number, active: number, n: number, seed: number) {
  const rand = mulberry32(seed);
  const randn = gaussian(rand);
  const dict = new Float32Array(atoms * d);
  for (let j = 0; j < atoms; j++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += (dict[j * d + i] = randn()) ** 2;
    for (let i = 0; i < d; i++) dict[j * d + i] /= Math.sqrt(ss);
  }
  const gen = (count: number) => {
    const x = new Float32Array(count * d);
    for (let r = 0; r < count; r++) {
      for (let t = 0; t < active; t++) {
        const j = Math.floor(rand() * atoms);
        const a = 1 + 2 * rand();
        for (let i = 0; i < d; i++) x[r * d + i] += a * dict[j * d + i];
      }
    }
    return x;
  };
  return { dict, train: gen(n), test: gen(2000) };
}

/** Checks grad[from..to) against central differences of lossAt() in arr (step 1e-2); returns how many were checked. */
function expectFiniteDifferences(arr: Float32Array, grad: Float32Array, from: number, to: number, lossAt: () => number): number {
  for (let i = from; i < to; i++) {
    const old = arr[i];
    arr[i] = old + 1e-2;
    const lp = lossAt();
    arr[i] = old - 1e-2;
    const lm = lossAt();
    arr[i] = old;
    const fd = (lp - lm) / 2e-2;
    expect(Math.abs(fd - grad[i])).toBeLessThan(0.01 * (Math.abs(fd) + Math.abs(grad[i])) + 1e-4);
  }
  return to - from;
}

describe("TopK SAE trainer", () => {
  const d = 16, atoms = 32;
  const data = synthetic(d, atoms, 3, 10_000, 7);
  const opts = { dIn: d, width: 64, k: 4, tokens: 60_000, batchSize: 256, lr: 0.02, seed: 3 };

  it("learns a known sparse dictionary: high held-out FVE, atoms recovered, unit-norm decoder", () => {
    const res = trainTopKSae(data.train, opts);
    const ev = evaluateTopKSae(res.sae, data.test);
    expect(ev.fve).toBeGreaterThan(0.9);
    expect(ev.l0).toBeLessThanOrEqual(4);
    // the fast evaluation agrees with the float64 reference in encode.ts
    expect(fractionOfVarianceExplained(res.sae, data.test)).toBeCloseTo(ev.fve, 4);
    // most true atoms have a decoder row pointing their way
    let recovered = 0;
    for (let a = 0; a < atoms; a++) {
      let best = 0;
      for (let j = 0; j < res.sae.dSae; j++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += data.dict[a * d + i] * res.sae.wDec[j * d + i];
        best = Math.max(best, dot);
      }
      if (best > 0.9) recovered++;
    }
    expect(recovered).toBeGreaterThanOrEqual(atoms * 0.75);
    for (let j = 0; j < res.sae.dSae; j++) {
      let ss = 0;
      for (let i = 0; i < d; i++) ss += res.sae.wDec[j * d + i] ** 2;
      expect(ss).toBeCloseTo(1, 5);
    }
    expect(res.sae).toMatchObject({ architecture: "topk", k: 4, dIn: d, dSae: 64, applyBDecToInput: true });
    expect(res.history.length).toBeGreaterThan(10);
  });

  it("is deterministic for a seed", () => {
    const short = { ...opts, tokens: 8_000 };
    const a = trainTopKSae(data.train, short);
    const b = trainTopKSae(data.train, short);
    const c = trainTopKSae(data.train, { ...short, seed: 4 });
    expect(Buffer.from(a.sae.wEnc.buffer).equals(Buffer.from(b.sae.wEnc.buffer))).toBe(true);
    expect(Buffer.from(a.sae.wDec.buffer).equals(Buffer.from(b.sae.wDec.buffer))).toBe(true);
    expect(Buffer.from(a.sae.bDec.buffer).equals(Buffer.from(b.sae.bDec.buffer))).toBe(true);
    expect(Buffer.from(a.sae.wDec.buffer).equals(Buffer.from(c.sae.wDec.buffer))).toBe(false);
  });

  it("counts dead latents; the AuxK loss runs only while some are dead", () => {
    // far more latents than atoms: many stop firing
    const wide = { ...opts, width: 128, k: 4, tokens: 16_000, deadWindow: 4_000 };
    const off = trainTopKSae(data.train, { ...wide, auxkCoef: 0 });
    expect(off.dead).toBeGreaterThan(0);
    expect(off.history.every((h) => h.auxLoss === 0)).toBe(true);
    const on = trainTopKSae(data.train, { ...wide, auxkCoef: 1 / 32 });
    for (const h of on.history) expect(h.auxLoss > 0).toBe(h.dead > 0);
    // nothing can be dead before deadWindow tokens have passed
    expect(on.history.filter((h) => h.tokens <= 4_000).every((h) => h.dead === 0)).toBe(true);
  });

  it("computes the exact gradient of the loss (finite differences)", () => {
    const dd = 6, N = 10, k = 3, rows = 5;
    const randn = gaussian(mulberry32(3));
    const mk = (n: number, s = 1) => Float32Array.from({ length: n }, () => randn() * s);
    const p: TopKParams = { d: dd, N, k, wEncT: mk(N * dd), bEnc: mk(N, 0.1), wDec: mk(N * dd), bDec: mk(dd, 0.3) };
    const batch = mk(rows * dd, 2);
    const g = zeroGrads(p);
    forwardBackward(p, g, new TopKWorkspace(dd, N, k, 2, rows), batch, rows, { varDenom: 1.7 });
    const lossAt = () => forwardBackward(p, zeroGrads(p), new TopKWorkspace(dd, N, k, 2, rows), batch, rows, { varDenom: 1.7 }).loss;
    for (const name of ["wEncT", "bEnc", "wDec", "bDec"] as const) expectFiniteDifferences(p[name], g[name], 0, p[name].length, lossAt);
  });

  it("computes the exact AuxK gradient of dead latents (finite differences)", () => {
    // Latents that no row selects in its top-k leave the main loss unchanged, so the
    // gradient for their parameters is the AuxK term's alone: auxkCoef * weight * auxLoss,
    // with the residual it reconstructs held fixed (it does not depend on them).
    const dd = 6, N = 16, k = 2, auxK = 3, rows = 5;
    const randn = gaussian(mulberry32(4));
    const mk = (n: number, s = 1) => Float32Array.from({ length: n }, () => randn() * s);
    const p: TopKParams = { d: dd, N, k, wEncT: mk(N * dd), bEnc: mk(N, 0.1), wDec: mk(N * dd), bDec: mk(dd, 0.3) };
    const batch = mk(rows * dd, 2);
    const ws0 = new TopKWorkspace(dd, N, k, auxK, rows);
    forwardBackward(p, zeroGrads(p), ws0, batch, rows, { varDenom: 1 });
    const selected = new Set(Array.from(ws0.idx.subarray(0, rows * k)));
    const dead = new Uint8Array(N);
    let deadCount = 0;
    for (let j = 0; j < N; j++) if (!selected.has(j)) (dead[j] = 1), deadCount++;
    expect(deadCount).toBeGreaterThan(auxK);
    const o = { varDenom: 1.7, auxkCoef: 0.5, dead, deadCount };
    const weight = Math.min(1, deadCount / auxK);
    const g = zeroGrads(p);
    const ws = new TopKWorkspace(dd, N, k, auxK, rows);
    expect(forwardBackward(p, g, ws, batch, rows, o).auxLoss).toBeGreaterThan(0);
    const used = new Set(Array.from(ws.auxIdx.subarray(0, rows * auxK)).filter((j) => j >= 0));
    const lossAt = () => {
      const r = forwardBackward(p, zeroGrads(p), new TopKWorkspace(dd, N, k, auxK, rows), batch, rows, o);
      return r.loss + o.auxkCoef * weight * r.auxLoss;
    };
    let checked = 0;
    for (const j of used) {
      for (const [name, from, to] of [["wDec", j * dd, (j + 1) * dd], ["wEncT", j * dd, (j + 1) * dd], ["bEnc", j, j + 1]] as const) {
        checked += expectFiniteDifferences(p[name], g[name], from, to, lossAt);
      }
    }
    expect(checked).toBeGreaterThan(0);
    // and the AuxK term does reach them (a gradient that is all zero would pass the check above)
    expect(Array.from(used).some((j) => g.wDec.subarray(j * dd, (j + 1) * dd).some((x) => Math.abs(x) > 1e-4))).toBe(true);
  });

  it("transposes and validates its options", () => {
    expect(Array.from(transpose(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3))).toEqual([1, 4, 2, 5, 3, 6]);
    expect(() => trainTopKSae(new Float32Array(10), { dIn: 3, width: 4, k: 2, tokens: 10 })).toThrow(/not a positive multiple of d_in = 3/);
    expect(() => trainTopKSae(new Float32Array(12), { dIn: 3, width: 4, k: 5, tokens: 10 })).toThrow(/k = 5/);
  });
});
