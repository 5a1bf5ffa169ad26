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
import { pastLimits, PIECES_HANDED, RiskModel, windows, type SegmentRule } from "./model.ts";
import { loadRiskScorer } from "../risk/index.ts";

const SEG: SegmentRule = { minTextChars: 600, minChars: 20, maxSegments: 4 };

describe("windows", () => {
  it("cover the text in order, each within maxChars and maxSegments scored pieces", () => {
    const text = "A short one.\n" + "This sentence is long enough to count. ".repeat(13) + "x".repeat(250) + " tail without a stop";
    const ws = windows(text, 200, SEG);
    // In order and without gaps; the last window may reach back into the one before it.
    const body = ws.slice(0, -1).join("");
    expect(text.startsWith(body)).toBe(true);
    expect(text.endsWith(ws.at(-1)!)).toBe(true);
    expect(body.length + ws.at(-1)!.length).toBeGreaterThanOrEqual(text.length);
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
    // The last piece counts though no break follows it, as sentenceCuts counts it.
    const four = "This sentence is long enough to count. ".repeat(4) + "and one more long enough to count at the end";
    expect(pastLimits(four.padStart(700, " "), 16_384, SEG)).toBe(true);
  });

  it("a last window too short for the sentence rule reaches back to minTextChars", () => {
    const text = "This sentence is long enough to count. ".repeat(40) + "Then a short tail.";
    const ws = windows(text, 16_384, SEG);
    expect(ws.at(-1)!.length).toBe(SEG.minTextChars);
    expect(text.endsWith(ws.at(-1)!)).toBe(true);
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

  it("hands the second stage the sentence that decided as the piece to read beside the text, not the window", () => {
    const t = harmful.find((x) => model.classify(x).risky && !x.includes("\n") && x.length < 300)!;
    const r = model.readingLogit(`${pad}${t}\n${pad}`);
    expect(r.reading).toBeUndefined();
    expect(r.piece!.trim()).toBe(t.toLowerCase().trim());
  });

  it("hands it the riskiest sentence of a message longer than the encoder reads whole, and none of a short one", () => {
    const t = harmful.find((x) => model.classify(x).risky && !/[\n.!?]/.test(x.slice(0, -1)) && x.length < 200)!;
    const filler = "Lorem ipsum dolor sit amet. ".repeat(30);
    const r = model.scoreConversation([{ role: "user", content: `${filler}${t}\n${filler}` }]);
    expect(r.piece!.trim()).toBe(t.toLowerCase().trim());
    expect(model.scoreConversation([{ role: "user", content: t }]).piece).toBeUndefined();
  });

  it("hands over its next riskiest sentences too, each once and with its own risk, and the risk of the first one past them", () => {
    const requests = harmful.filter((x) => model.classify(x).risky && !/[\n.!?]/.test(x.slice(0, -1)) && x.length < 200).slice(0, PIECES_HANDED + 2);
    expect(requests).toHaveLength(PIECES_HANDED + 2);
    const filler = "Lorem ipsum dolor sit amet. ".repeat(30);
    const alone = (t: string) => model.scoreConversation([{ role: "user", content: t }]).risk;
    // each request twice: a copy must not take another sentence's place
    const p = model.scoreConversation([{ role: "user", content: `${filler}${[...requests, ...requests].join("\n")}\n${filler}` }]).parts[0]!;
    const handed = [p.piece!, ...p.pieces!.map((q) => q.text)].map((t) => t.trim());
    expect(handed).toHaveLength(PIECES_HANDED);
    expect(new Set(handed).size).toBe(PIECES_HANDED);
    const byRisk = requests.map((t) => ({ t: t.toLowerCase().trim(), r: alone(t.toLowerCase()) })).sort((a, b) => b.r - a.r);
    expect(handed).toEqual(byRisk.slice(0, PIECES_HANDED).map((x) => x.t));
    for (const q of p.pieces!) expect(q.risk).toBeCloseTo(alone(q.text.trim()), 6);
    expect(p.unread).toBeCloseTo(byRisk[PIECES_HANDED]!.r, 6);
    // a message the encoder reads whole hands over nothing
    expect(model.scoreConversation([{ role: "user", content: requests.join("\n") }]).parts[0]!.pieces).toBeUndefined();
  });

  it("finds the limits in the text as the featurizer reads it: no-break spaces and full-width stops part sentences", () => {
    const t = harmful.find((x) => model.classify(x).risky && x.length < 200)!;
    const sentences = pad.split("\n").filter((l) => l.length > 30 && !/[.!?]/.test(l)).slice(0, 120);
    expect(sentences.length).toBe(120);
    for (const sep of [".\u00a0", "\uff0e "]) {
      const text = sentences.join(sep) + sep + t;
      expect(model.classify(sentences.join(sep)).risky).toBe(false);
      expect(model.classify(text).risky, JSON.stringify(sep)).toBe(true);
    }
  });

  it("the whole gate (second stage on) catches 95% or more of the requests it catches alone in the middle of a long text", async () => {
    const gate = await loadRiskScorer({ secondStage: true, warn: () => {} });
    const alone = [];
    for (const t of harmful) if ((await gate.assess([{ role: "user", content: t }])).risky) alone.push(t);
    expect(alone.length).toBeGreaterThan(40);
    const missed = [];
    for (const t of alone) if (!(await gate.assess([{ role: "user", content: `${pad}${t}\n${pad}` }])).risky) missed.push(t);
    // The second stage reads the sentence that decided: a request of several sentences loses the others
    // (one of 55 here; before it read the window's first and last 64 tokens and missed 56 of 139).
    expect(missed.length / alone.length, JSON.stringify(missed)).toBeLessThanOrEqual(0.05);
  });
});
