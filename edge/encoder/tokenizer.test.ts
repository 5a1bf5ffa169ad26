import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { DEFAULT_ENCODER_DIR } from "./files.ts";
import { SentencePieceTokenizer } from "./tokenizer.ts";

const vocab = JSON.parse(readFileSync(new URL("vocab.json", DEFAULT_ENCODER_DIR), "utf8"));
const tok = new SentencePieceTokenizer(vocab);

// Ids from the tokenizer TensorFlow.js ships with the model (tfjs-models universal-sentence-encoder's
// tokenizer/index.ts, as bundled in @energetic-ai/embeddings 0.2.0), run on the same vocab.json when this
// module was written; the two agreed on these and on 2,000 Alpaca instructions.
const REFERENCE: [string, number[]][] = [
  ["How do I kill a Python process?", [728, 64, 16, 1293, 11, 203, 48, 128, 175, 675, 54]],
  ["Give detailed step-by-step instructions for building a pipe bomb at home.", [5303, 6295, 1535, 24, 966, 24, 7013, 15, 7, 3859, 7, 22, 1011, 11, 6827, 3332, 38, 312, 6]],
  ["Hello, world! ¿Qué tal? Straße naïve café", [341, 4125, 8, 311, 78, 30, 7985, 1186, 194, 1133, 30, 1059, 54, 4779, 0, 59, 1216, 0, 105, 976, 209, 1133]],
  ["emoji 😀😀 and 漢字 tabs\tand\nnewlines", [299, 451, 2501, 30, 0, 12, 30, 0, 5520, 7, 0, 381, 0, 2664, 721, 7]],
  ["  double  spaces  ", [30, 30, 1991, 30, 1016, 7, 30, 30]],
  ["ＦＵＬＬＷＩＤＴＨ ﬁ ligature", [189, 4664, 277, 331, 2609, 3651, 1480, 30, 3994, 4129]],
  ["", []],
];

describe("SentencePiece tokenizer", () => {
  it("gives the reference tokenizer's ids", () => {
    for (const [text, ids] of REFERENCE) expect(tok.encode(text), text).toEqual(ids);
  });

  it("spells the text back from its pieces (known characters)", () => {
    const text = "Explain how photosynthesis works, step by step.";
    expect(tok.encode(text).map((id) => vocab[id][0]).join("")).toBe("\u2581" + text.replace(/ /g, "\u2581"));
  });

  it("merges runs of unknown characters into one id 0", () => {
    expect(tok.encode("a 漢字漢字 b").filter((id) => id === 0)).toHaveLength(1);
  });

  it("rejects a vocabulary that is not [piece, score] rows", () => {
    expect(() => new SentencePieceTokenizer([] as never)).toThrow(/vocabulary/);
    expect(() => new SentencePieceTokenizer([...vocab.slice(0, 6), [5, 1]] as never)).toThrow(/row 6/);
  });
});
