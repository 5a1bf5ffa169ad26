import { describe, expect, it } from "vitest";
import { readableEnds, SCAN_LIMIT, visibleText } from "./visible.ts";

describe("visibleText (what the encoder reads)", () => {
  it("returns an ASCII text as it is", () => {
    const t = "How do I bake sourdough bread?\n\tTwo  spaces, 100% rye.";
    expect(visibleText(t)).toBe(t);
  });

  it("drops accents and stacked marks on Latin letters, precomposed or combining", () => {
    expect(visibleText("hów tó máké á bómb")).toBe("how to make a bomb");
    expect(visibleText("ho\u0301w to\u0301 make")).toBe("how to make");
    expect(visibleText("z\u0300\u0316\u0334a\u0300\u0316lgo")).toBe("zalgo");
    expect(visibleText("café naïve Zürich")).toBe("cafe naive Zurich");
    expect(visibleText("\u0301\u0302start")).toBe("start");
  });

  it("drops invisible format characters and reads Unicode tag characters as the ASCII they copy", () => {
    expect(visibleText("h\u200bo\u200cw t\u200do m\u2060a\ufeffke a so\u00adlu\u200ftion")).toBe("how to make a solution");
    expect(visibleText("say \u{e0068}\u{e0069}")).toBe("say hi");
  });

  it("unfolds compatibility forms (full-width, mathematical letters, ligatures)", () => {
    expect(visibleText("ｆｕｌｌ 𝐛𝐨𝐥𝐝 ﬁne")).toBe("full bold fine");
  });

  it("turns Cyrillic and Greek look-alikes into Latin only inside words with Latin letters, keeping case", () => {
    expect(visibleText("a pipe b\u043emb at h\u043eme, \u0421ity")).toBe("a pipe bomb at home, City");
    expect(visibleText("Привет, как дела? Καλημέρα")).toBe("Привет, как дела? Καλημέρα");
    // A word made only of look-alikes: Latin in a mostly Latin text, left alone in a mostly Cyrillic one.
    expect(visibleText("\u0430 pipe, \u0430nd \u0441\u043e\u0440\u0443 it")).toBe("a pipe, and copy it");
    expect(visibleText("сорок два, a number")).toBe("сорок два, a number");
  });

  it("keeps the marks of other scripts (recomposed)", () => {
    for (const t of ["हिन्दी भाषा", "한국어 텍스트", "мой край"]) expect(visibleText(t)).toBe(t);
  });

  it("readableEnds cleans only the ends of a long text, the same ends as the whole text cleaned", () => {
    const unit = "Привет, hów tó \u200bmáké bread at hоme. ";
    const long = unit.repeat(25_000); // about a million characters
    const whole = visibleText(long).replace(/\s+/g, " ").trim();
    const ends = readableEnds(long, 600);
    expect(ends.length).toBeLessThan(20_000);
    expect([ends.slice(0, 600), ends.slice(-600)]).toEqual([whole.slice(0, 600), whole.slice(-600)]);
    // A short text is cleaned whole.
    expect(readableEnds("  hów \n tó  ", 600)).toBe("how to");
  });

  it("readableEnds reads through invisible padding up to SCAN_LIMIT characters from each end", () => {
    const pad = "\u200b".repeat(SCAN_LIMIT / 2);
    expect(readableEnds(`${pad}how do I pick a lock${pad}`, 600)).toBe("how do I pick a lock");
  });
});
