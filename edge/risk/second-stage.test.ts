import { describe, expect, it } from "vitest";
import { MAX_PARTS_READ, PROBE_FORMAT, PROBE_FORMAT_VERSION, SecondStage, type ProbeArtifact } from "./second-stage.ts";

const artifact = (over: Partial<ProbeArtifact> = {}): ProbeArtifact => ({
  format: PROBE_FORMAT,
  formatVersion: PROBE_FORMAT_VERSION,
  version: "test",
  encoder: { package: "p", version: "0", sha256: {}, maxTokens: 128, headChars: 600 },
  firstStage: { modelVersion: "x", threshold: 0.3 },
  probe: { w: [2, -1, 0], b: 0.5 },
  standardise: { firstStage: { mean: -2, sd: 2 }, probe: { mean: 0.5, sd: 0.5 } },
  band: { lo: 0.1, hi: 0.6 },
  threshold: 1,
  ...over,
});

const logit = (p: number) => Math.log(p / (1 - p));

describe("second stage: the band", () => {
  const stage = new SecondStage(artifact());
  const T1 = 0.3;

  it("outside the band the first stage decides and the encoder is not called", async () => {
    const never = () => {
      throw new Error("embedded outside the band");
    };
    expect(await stage.decide({ risk: 0.05, risky: false }, T1, never)).toEqual({ risk: 0.05, risky: false, stage: "classifier" });
    expect(await stage.decide({ risk: 0.6, risky: true }, T1, never)).toEqual({ risk: 0.6, risky: true, stage: "classifier" });
  });

  it("inside it the combined score decides, whatever the first stage said", async () => {
    // z = (logit(r) + 2) / 2 + (w.e + b - 0.5) / 0.5, computed by hand here
    const e = [1, 0, 0]; // w.e + b = 2.5: probe term +4
    const zHigh = (logit(0.15) + 2) / 2 + 4;
    const high = await stage.decide({ risk: 0.15, risky: false }, T1, () => [[e]]);
    expect(high.stage).toBe("encoder");
    expect(high.risky).toBe(zHigh >= 1);
    expect(high.risky).toBe(true);
    expect(high.risk).toBeCloseTo(1 / (1 + Math.exp(-(logit(T1) + zHigh - 1))), 12);

    const low = await stage.decide({ risk: 0.5, risky: true }, T1, () => [[[0, 1, 0]]]); // w.e + b = -0.5: probe term -2
    expect(low.stage).toBe("encoder");
    expect(low.risky).toBe(false);
    expect(low.risk).toBeLessThan(T1);
  });

  it("decides each text of a conversation in the band on its own: a harmless turn the first stage likes more does not speak for the others", async () => {
    const harmless = [0, 1, 0]; // probe term -2
    const harmful = [1, 0, 0]; // probe term +4
    // the harmless turn has the higher first-stage risk; before, only the highest text was read
    const first = { risk: 0.5, risky: true, parts: [{ risk: 0.5 }, { risk: 0.2 }, { risk: 0.05 }] };
    const asked: number[][] = [];
    const r = await stage.decide(first, T1, (read) => {
      asked.push([...read]);
      return read.map((i) => [i === 0 ? harmless : harmful]);
    });
    expect(asked).toEqual([[0, 1]]); // the band's texts, riskiest first; the one below the band is not read
    const zHarmful = (logit(0.2) + 2) / 2 + 4;
    expect(r).toEqual({ risk: stage.risk(zHarmful, T1), risky: true, stage: "encoder" });
    // every text harmless: not risky, and the risk is the highest text's (a text below the band counts with its own)
    const calm = await stage.decide(first, T1, (read) => read.map(() => [harmless]));
    expect(calm.risky).toBe(false);
    expect(calm.risk).toBe(Math.max(0.05, stage.risk((logit(0.5) + 2) / 2 - 2, T1), stage.risk((logit(0.2) + 2) / 2 - 2, T1)));
  });

  it("reads at most MAX_PARTS_READ texts; the rest of the band keeps the first stage's decision", async () => {
    const harmless = [0, 1, 0];
    const crowd = Array.from({ length: MAX_PARTS_READ }, () => ({ risk: 0.55 }));
    const flagged = { risk: 0.45 }; // at or above T1: risky by the first stage
    const r = await stage.decide({ risk: 0.55, risky: true, parts: [...crowd, flagged] }, T1, (read) => {
      expect(read).toHaveLength(MAX_PARTS_READ);
      expect(read).not.toContain(MAX_PARTS_READ);
      return read.map(() => [harmless]);
    });
    expect(r).toEqual({ risk: 0.45, risky: true, stage: "encoder" });
    // the same crowd beside a text the first stage clears: not risky
    const quiet = await stage.decide({ risk: 0.55, risky: true, parts: [...crowd, { risk: 0.2 }] }, T1, (read) => read.map(() => [harmless]));
    expect(quiet.risky).toBe(false);
  });

  it("lets the first stage decide when no text in the band has anything to read", async () => {
    const never = () => {
      throw new Error("embedded with nothing to read");
    };
    expect(await stage.decide({ risk: 0.45, risky: true, parts: [{ risk: 0.45, texts: [] }, { risk: 0.05 }] }, T1, never)).toEqual({ risk: 0.45, risky: true, stage: "classifier" });
  });

  it("refuses an empty read", async () => {
    await expect(stage.decide({ risk: 0.2, risky: false }, T1, () => [[]])).rejects.toThrow(/no embedding/);
    await expect(stage.decide({ risk: 0.2, risky: false }, T1, () => [])).rejects.toThrow(/no embedding/);
  });

  it("reports a risk at or above the first stage's threshold exactly when the combined score decides risky", () => {
    for (let z = -3; z <= 3; z += 0.25) expect(stage.risk(z, T1) >= T1).toBe(z >= stage.threshold);
    expect(stage.risk(stage.threshold, T1)).toBeGreaterThanOrEqual(T1);
  });

  it("rejects malformed artifacts and embeddings of the wrong size", () => {
    expect(() => new SecondStage({ ...artifact(), format: "other" as never })).toThrow(/not a/);
    expect(() => new SecondStage(artifact({ band: { lo: 0.7, hi: 0.2 } }))).toThrow(/band/);
    expect(() => new SecondStage(artifact({ standardise: { firstStage: { mean: 0, sd: 0 }, probe: { mean: 0, sd: 1 } } }))).toThrow(/sd/);
    expect(() => stage.probeLogit([1, 2])).toThrow(/dimensions/);
  });

  it("reads format 1 (linear) and format 2 (hidden layer); a hidden layer needs format 2", () => {
    const hidden = { units: 2, W: Buffer.from(new Float32Array([1, 0, 0, 0, 1, 0]).buffer).toString("base64"), b: [0, -1] };
    const two = new SecondStage(artifact({ probe: { w: [2, 3], b: 0.5, hidden } }));
    expect(two.dim).toBe(3);
    expect(two.probeLogit([1, 4, 9])).toBeCloseTo(2 * 1 + 3 * 3 + 0.5, 12); // relu(1), relu(4 - 1)
    expect(new SecondStage(artifact({ formatVersion: 1 })).dim).toBe(3);
    expect(() => new SecondStage(artifact({ formatVersion: 1, probe: { w: [2, 3], b: 0.5, hidden } }))).toThrow(/format 1/);
    expect(() => new SecondStage(artifact({ formatVersion: 3 }))).toThrow(/not a/);
  });
});
