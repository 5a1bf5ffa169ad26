import { describe, expect, it } from "vitest";
import { parseCsv, parseCsvObjects } from "./csv.ts";

describe("parseCsv", () => {
  it("handles quoted commas, doubled quotes and multi-line fields", () => {
    const text = 'a,b,c\r\n1,"x, y","say ""hi""\nsecond line"\n2,,last\n';
    expect(parseCsv(text)).toEqual([
      ["a", "b", "c"],
      ["1", "x, y", 'say "hi"\nsecond line'],
      ["2", "", "last"],
    ]);
  });
  it("maps rows to header objects and strips a BOM", () => {
    expect(parseCsvObjects('\ufeffid,prompt\n1,"hello\nworld"\n')).toEqual([{ id: "1", prompt: "hello\nworld" }]);
  });
  it("rejects an unterminated quote", () => {
    expect(() => parseCsv('a,"b\n')).toThrow(/unterminated/);
  });
});
