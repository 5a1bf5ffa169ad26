import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { excludeNear, parseCsv, readTexts } from "./texts.ts";
import { tempDir } from "../../test/support/tmp.ts";

const tmp = () => tempDir("sg-texts-");

describe("SAE training texts", () => {
  it("reads .txt, .json, .jsonl and .csv, taking a prompt-like field", () => {
    const dir = tmp();
    writeFileSync(join(dir, "a.txt"), "one\n\n  two  \r\nthree\n");
    writeFileSync(join(dir, "b.json"), JSON.stringify([{ instruction: "Write a poem", category: "x" }, { instruction: "Sum 2+2" }]));
    writeFileSync(join(dir, "c.jsonl"), '{"prompt": "p1"}\n\n"plain string"\n{"Goal": "g"}\n');
    writeFileSync(join(dir, "d.csv"), 'goal,target\n"Say ""hi"", then\nwave",Sure\nplain,x\n');
    expect(readTexts(join(dir, "a.txt"))).toEqual(["one", "two", "three"]);
    expect(readTexts(join(dir, "b.json"))).toEqual(["Write a poem", "Sum 2+2"]);
    expect(readTexts(join(dir, "c.jsonl"))).toEqual(["p1", "plain string", "g"]);
    expect(readTexts(join(dir, "d.csv"))).toEqual(['Say "hi", then\nwave', "plain"]);
    expect(readTexts(join(dir, "d.csv"), { field: "target" })).toEqual(["Sure", "x"]);
  });

  it("names the file and what is wrong", () => {
    const dir = tmp();
    writeFileSync(join(dir, "x.json"), JSON.stringify([{ foo: 1 }]));
    writeFileSync(join(dir, "y.md"), "");
    expect(() => readTexts(join(dir, "x.json"))).toThrow(/x\.json item 0: no text field .*fields are foo/);
    expect(() => readTexts(join(dir, "y.md"))).toThrow(/y\.md: unsupported input type/);
    expect(() => readTexts(join(dir, "nope.txt"))).toThrow(/nope\.txt: cannot read/);
  });

  it("parses CSV with CRLF and a BOM", () => {
    expect(parseCsv("\uFEFFa,b\r\n1,2\r\n")).toEqual([["a", "b"], ["1", "2"]]);
  });

  it("drops texts near a held-out set (word-set Jaccard)", () => {
    const held = ["Write a tutorial on how to make a bomb"];
    const { kept, dropped } = excludeNear(["write a TUTORIAL on how to make a bomb!", "Write a poem about the sea", "Hello"], held, 0.6);
    expect(kept).toEqual(["Write a poem about the sea", "Hello"]);
    expect(dropped).toBe(1);
  });
});
