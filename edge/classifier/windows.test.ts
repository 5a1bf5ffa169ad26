/**
 * Long texts are read whole (RiskModel.readingLogit, `windows`): a request in
 * the middle of a long text, or after many sentences, is scored like one
 * anywhere else, and a text within the limits scores as before.
 */
import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { loadHeldOut } from "../../scripts/classifier/data.ts";
import { DEFAULT_DATA_DIR } from "../../scripts/classifier/paths.ts";
import { DEFAULT_ARTIFACT_URL } from "./load.ts";
import { pastLimits, RiskModel, windows, type SegmentRule } from "./model.ts";

const SEG: SegmentRule = { minTextChars: 600, minChars: 20, maxSegments: 4 };

describe("windows", () => {
  it("cover the text in order, each within maxChars and maxSegments scored pieces", () => {
    const text = "A short one.\n" + "This sentence is long enough to count. ".repeat(13) + "x".repeat(250) + " tail without a stop";
    const ws = windows(text, 200, SEG);
    expect(ws.join("")).toBe(text);
    for (const w of ws) {
      expect(w.length).toBeLessThanOrEqual(200);
      expect(w.match(/This sentence/g)?.length ?? 0).toBeLessThanOrEqual(SEG.maxSegments);
    }
    expect(ws.length).toBeGreaterThan(4);
  });

  it("are needed only past a limit: more characters than maxChars, or more scored pieces than maxSegments", () => {
    expect(pastLimits("Fine. ".repeat(50), 16_384, SEG)).toBe(false); // pieces under minChars are not scored alone
    expect(pastLimits("This sentence is long enough to count. ".repeat(5), 16_384, SEG)).toBe(false); // under minTextChars
    expect(pastLimits("This sentence is long enough to count. ".repeat(20), 16_384, SEG)).toBe(true);
    expect(pastLimits("a".repeat(700), 600, SEG)).toBe(true);
  });
});

describe("the shipped scorer on long texts", () => {
  let model: RiskModel;
  let harmful: string[];
  let pad: string;
  beforeAll(() => {
    model = RiskModel.fromArtifact(readFileSync(DEFAULT_ARTIFACT_URL, "utf8"));
    const h = loadHeldOut(DEFAULT_DATA_DIR);
    harmful = h.directHarmful.filter((x) => x.source.startsWith("strongreject")).map((x) => x.text).slice(0, 60);
    // Benign prose: held-out benign instructions the scorer passes, each sentence too (in a long text
    // every sentence is also scored alone), as one long text.
    const passes = (t: string) => !model.classify(t).risky;
    const lines = h.benignInstructions.map((x) => x.text).filter((t) => passes(t) && t.split(/[\r\n]+|(?<=[.!?])\s+/).every(passes));
    pad = "";
    for (let i = 0; pad.length < 45_000; i++) pad += lines[i % lines.length] + "\n";
  });

  it("catches a held-out request in the middle of 90,000 characters, or at the end of them, wherever it is caught alone", () => {
    // Without the request the long text is not flagged, so the request is what is caught.
    expect(model.classify(`${pad}\n${pad}`).risky).toBe(false);
    const caught = harmful.filter((t) => model.classify(t).risky);
    expect(caught.length).toBeGreaterThan(40);
    for (const t of caught) {
      expect(model.classify(`${pad}${t}\n${pad}`).risky, t).toBe(true);
      expect(model.classify(`${pad}${pad}${t}`).risky, t).toBe(true);
    }
  });

  it("hands the second stage the window that decided, not the whole text", () => {
    const t = harmful.find((x) => model.classify(x).risky)!;
    const r = model.readingLogit(`${pad}${t}\n${pad}`);
    expect(r.reading).toContain(t);
    expect(r.reading!.length).toBeLessThanOrEqual(16_384);
  });
});
