import { describe, expect, it } from "vitest";
import { extractAnswer, goldAnswer, isCorrect, normalizeNumber } from "./gsm8k-answer.ts";

describe("GSM8K answer extraction", () => {
  it.each([
    ["Step 1... #### 1,234", "1234"],
    ["#### 72", "72"],
    ["It costs $5.00.", "5"],
    ["So the answer is 7.", "7"],
    ["The final answer is 7 apples, not 8 as before.", "7"],
    ["Answer: 1,000,000.", "1000000"],
    ["She is left with -3 apples.", "-3"],
    ["#### -12", "-12"],
    ["The total is 2.50 dollars", "2.5"],
    ["He paid $1,299.99 for it.", "1299.99"],
    ["The answer is -0.5. Then 9 more steps.", "-0.5"],
    ["First 3 + 4 = 7, then 7 * 2 = 14", "14"],
    ["#### $18", "18"],
    ["The answer is 50%.", "50"],
    ["Once upon a time there was a dog.", undefined],
  ])("%j -> %s", (text, want) => {
    expect(extractAnswer(text)).toBe(want);
  });

  it("normalises numbers", () => {
    expect(normalizeNumber("1,234")).toBe("1234");
    expect(normalizeNumber("$5.00")).toBe("5");
    expect(normalizeNumber("−4")).toBe("-4");
    expect(normalizeNumber("007")).toBe("7");
    expect(normalizeNumber("abc")).toBeUndefined();
  });

  it("reads the gold answer after ####", () => {
    expect(goldAnswer("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72")).toBe("72");
    expect(goldAnswer("... #### 1,600")).toBe("1600");
    expect(() => goldAnswer("no marker")).toThrow();
  });

  it("matches numerically", () => {
    expect(isCorrect("so it is $5.00.", "5")).toBe(true);
    expect(isCorrect("#### 1,234", "1234")).toBe(true);
    expect(isCorrect("the answer is 7.", "8")).toBe(false);
    expect(isCorrect("no idea", "8")).toBe(false);
  });
});
