import { describe, expect, it } from "vitest";
import { checkFit, layerFromHookName, transpose } from "./common.ts";

describe("transpose", () => {
  it("over several tiles, with row and column factors", () => {
    const rows = 70;
    const cols = 130;
    const src = Float32Array.from({ length: rows * cols }, (_, n) => n);
    const row = Array.from({ length: rows }, (_, r) => r % 3);
    const col = Array.from({ length: cols }, (_, c) => 1 + (c % 2));
    const plain = transpose(src, rows, cols);
    const scaled = transpose(src, rows, cols, { row, col });
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        expect(plain[c * rows + r]).toBe(src[r * cols + c]);
        expect(scaled[c * rows + r]).toBe(src[r * cols + c] * row[r] * col[c]);
      }
    }
  });
});

describe("layerFromHookName (TransformerLens names)", () => {
  it("resid_post is the block's output, resid_pre the previous block's", () => {
    expect(layerFromHookName("blocks.20.hook_resid_post", "f")).toBe(20);
    expect(layerFromHookName("blocks.20.hook_resid_pre", "f")).toBe(19);
    expect(layerFromHookName("model.layers.3", "f")).toBeUndefined();
  });

  it("refuses other sites, naming the file and the field", () => {
    for (const h of ["blocks.3.hook_mlp_out", "blocks.3.hook_attn_out", "blocks.3.attn.hook_z", "blocks.3.hook_resid_mid", "blocks.3.ln2.hook_normalized", "hook_embed"]) {
      expect(() => layerFromHookName(h, "/x/hyperparams.json", "hook_point_in")).toThrow(`/x/hyperparams.json: field "hook_point_in" is "${h}": this SAE reads another site`);
    }
    expect(() => layerFromHookName("blocks.0.hook_resid_pre", "/x/cfg.json")).toThrow(/cfg\.json: field "hook_name" is "blocks\.0\.hook_resid_pre": the input of block 0/);
  });
});

describe("checkFit", () => {
  it("passes what fits, and names where d_in and the layer were read when they do not", () => {
    expect(() => checkFit({ dModel: 8, nLayers: 4 }, 8, "f: field \"d_in\" is 8", 3, "f: field \"hook_name\"")).not.toThrow();
    expect(() => checkFit({}, 8, "", 99)).not.toThrow();
    expect(() => checkFit({ dModel: 16 }, 8, "f: field \"d_in\" is 8")).toThrow(`f: field "d_in" is 8, but the model's d_model is 16`);
    expect(() => checkFit({ nLayers: 26 }, 8, "", 30, "g: path component \"layer_30\"")).toThrow(
      `g: path component "layer_30": layer 30 is out of range: the model has 26 layers (blocks 0-25)`,
    );
  });
});
