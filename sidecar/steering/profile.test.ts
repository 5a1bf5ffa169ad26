import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Manifest } from "../model/manifest.ts";
import { saveSaeLens } from "../sae/load.ts";
import { checkProfileFits, loadProfile, parseProfile } from "./profile.ts";
import { findProfileFiles, loadProfiles, missingSaes } from "./registry.ts";
import { randomSae } from "./test-support.ts";
import { tempDir } from "../../test/support/tmp.ts";

const tmp = () => tempDir("sg-profile-");
const good = {
  name: "refusal",
  sae: "sae-dir",
  layer: 2,
  positions: "all",
  features: [{ index: 5, mode: "clamp", value: 6.0 }, { index: 9, mode: "scale", value: 2 }, { index: 1, mode: "add", value: -1.5 }],
  description: "refusal features",
};

function write(dir: string, name: string, json: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, typeof json === "string" ? json : JSON.stringify(json));
  return f;
}

describe("steering profiles", () => {
  it("loads the documented shape, resolving the SAE against the profile's folder", () => {
    const dir = tmp();
    const p = loadProfile(write(dir, "refusal.json", good));
    expect(p).toEqual({ ...good, sae: join(dir, "sae-dir"), file: join(dir, "refusal.json") });
    expect(loadProfile(write(dir, "abs.json", { ...good, sae: "/abs/sae", description: undefined })).sae).toBe("/abs/sae");
    expect(parseProfile({ ...good, positions: "generated" }, "<inline>").description).toBe("refusal features");
  });

  it("names the file and the field in every error", () => {
    const dir = tmp();
    const bad = (json: unknown) => () => loadProfile(write(dir, "p.json", json));
    const file = join(dir, "p.json").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    expect(bad({ ...good, layer: -1 })).toThrow(new RegExp(`^${file}: invalid steering profile: layer: must be >= 0`));
    expect(bad({ ...good, positions: "prompt" })).toThrow(/positions: must be "all" or "generated"/);
    expect(bad({ ...good, features: [{ index: 1, mode: "boost", value: 1 }] })).toThrow(/features\.0\.mode: must be "clamp", "scale" or "add"/);
    expect(bad({ ...good, features: [{ index: 1.5, mode: "add", value: 1 }] })).toThrow(/features\.0\.index: must be an integer/);
    expect(bad({ ...good, features: [{ index: 1, mode: "add", value: "1" }] })).toThrow(/features\.0\.value/);
    expect(bad({ ...good, features: [] })).toThrow(/features: must list at least one feature/);
    expect(bad({ ...good, features: [{ index: 1, mode: "add", value: 1 }, { index: 1, mode: "clamp", value: 1 }] })).toThrow(/features\.1\.index: feature 1 is listed twice/);
    expect(bad({ ...good, name: undefined })).toThrow(/name: /);
    expect(bad({ ...good, extra: 1 })).toThrow(/extra: /);
    expect(bad("{ not json")).toThrow(new RegExp(`^${file}: steering profile is not valid JSON`));
    expect(() => loadProfile(join(dir, "missing.json"))).toThrow(/missing\.json: cannot read steering profile/);
    const p = parseProfile(good, join(dir, "q.json"));
    expect(() => checkProfileFits(p, { dSae: 8, nLayers: 4 })).toThrow(/q\.json: features\.1\.index: 9 is out of range \(the SAE has 8 features\)/);
    expect(() => checkProfileFits(p, { dSae: 16, nLayers: 2 })).toThrow(/q\.json: layer: 2 is out of range/);
  });

  it("loads a condition (positions generated only) and names the file and field in its errors", () => {
    const dir = tmp();
    const condition = { features: [{ index: 5, weight: 1 }, { index: 30, weight: -0.5 }], threshold: 0.83, description: "harmful" };
    const withCond = { ...good, positions: "generated", condition };
    const p = loadProfile(write(dir, "c.json", withCond));
    expect(p.condition).toEqual(condition);
    expect(parseProfile({ ...withCond, condition: { ...condition, description: undefined } }, "<inline>").condition!.description).toBe("");
    expect(parseProfile(good, "<inline>").condition).toBeUndefined();
    const bad = (c: unknown, positions = "generated") => () => loadProfile(write(dir, "p.json", { ...good, positions, condition: c }));
    expect(bad(condition, "all")).toThrow(/p\.json: invalid steering profile: condition: needs positions "generated"/);
    expect(bad({ ...condition, features: [] })).toThrow(/p\.json: invalid steering profile: condition\.features: must list at least one feature/);
    expect(bad({ ...condition, features: [{ index: 2, weight: 1 }, { index: 2, weight: 2 }] })).toThrow(/condition\.features\.1\.index: feature 2 is listed twice/);
    expect(bad({ ...condition, features: [{ index: -1, weight: 1 }] })).toThrow(/condition\.features\.0\.index: must be >= 0/);
    expect(bad({ ...condition, features: [{ index: 1, weight: "1" }] })).toThrow(/condition\.features\.0\.weight/);
    expect(bad({ ...condition, threshold: null })).toThrow(/condition\.threshold/);
    expect(bad({ ...condition, extra: 1 })).toThrow(/condition\.extra/);
    expect(() => checkProfileFits(p, { dSae: 16, nLayers: 4 })).toThrow(/c\.json: condition\.features\.1\.index: 30 is out of range \(the SAE has 16 features\)/);
    expect(() => checkProfileFits(p, { dSae: 31, nLayers: 4 })).not.toThrow();
  });

  it("loads profiles with their SAEs for a model: strict files, lenient folders, one SAE per layer", () => {
    const dir = tmp();
    saveSaeLens(join(dir, "sae-a"), randomSae("relu", 32, 16, 1));
    saveSaeLens(join(dir, "sae-b"), randomSae("topk", 32, 16, 2, { k: 4 }));
    saveSaeLens(join(dir, "sae-wide"), randomSae("relu", 48, 16, 3));
    const manifest = { id: "m", dims: { dModel: 32, nLayers: 3 }, saes: [] } as unknown as Manifest;
    const a = write(dir, "a.json", { ...good, name: "a", sae: "sae-a", layer: 1 });
    mkdirSync(join(dir, "more"));
    write(join(dir, "more"), "b.json", { ...good, name: "b", sae: "../sae-b", layer: 2 });
    write(join(dir, "more"), "clash.json", { ...good, name: "clash", sae: "../sae-b", layer: 1 });
    write(dir, "wide.json", { ...good, name: "wide", sae: "sae-wide" });
    saveSaeLens(join(dir, "sae-l0"), randomSae("relu", 32, 16, 4, { layer: 0 }));
    write(dir, "wrong-layer.json", { ...good, name: "wrong", sae: "sae-l0", layer: 2 });
    saveSaeLens(join(dir, "sae-other"), randomSae("relu", 32, 16, 5), { model_name: "other-model" });
    write(dir, "x-other.json", { ...good, name: "other", sae: "sae-other", layer: 0 });
    expect(findProfileFiles(dir).map((f) => f.slice(dir.length + 1))).toEqual(["a.json", "more/b.json", "more/clash.json", "wide.json", "wrong-layer.json", "x-other.json"]);
    const warnings: string[] = [];
    const loaded = loadProfiles({ files: [a], dirs: [dir], warn: (m) => warnings.push(m) }, manifest);
    expect([...loaded.keys()]).toEqual(["a", "b"]);
    expect(warnings.join("\n")).toMatch(/clash\.json: sae: layer 1 already carries .*sae-a \(profile "a"\); one SAE per layer/);
    expect(warnings.join("\n")).toMatch(/wide\.json: sae: .*d_in.* 48, but the model's d_model is 32/);
    expect(warnings.join("\n")).toMatch(/wrong-layer\.json: layer: 2, but the SAE .*sae-l0 reads layer 0/);
    expect(warnings.join("\n")).toMatch(/x-other\.json: sae: .*sae-other was trained on model "other-model", this is "m"/);
    expect(missingSaes(loaded.values(), manifest).map((m) => m.layer)).toEqual([1, 2]);
    // strict: a bad profile file given by name stops the load
    expect(() => loadProfiles({ files: [join(dir, "wide.json")] }, manifest)).toThrow(/wide\.json: sae: /);
  });
});
