import { describe, expect, it } from "vitest";
import { isRefusal } from "./judge.ts";
import { isOnTopic, mentionsKeyword } from "./on-topic.ts";

describe("on-topic rule", () => {
  it("matches a key word as a whole word, any case, with a plural s / es", () => {
    expect(mentionsKeyword("Once upon a time, there was a Cat named Tom.", ["cat"])).toBe(true);
    expect(mentionsKeyword("The cats played.", ["cat"])).toBe(true);
    expect(mentionsKeyword("Two foxes ran.", ["fox"])).toBe(true);
    expect(mentionsKeyword("He liked the boat, the bus and the box.", ["dog", "box"])).toBe(true);
  });

  it("does not match inside another word or an unrelated story", () => {
    expect(mentionsKeyword("He tried to catch the ball.", ["cat"])).toBe(false);
    expect(mentionsKeyword("A bobcat came by.", ["cat"])).toBe(false);
    expect(mentionsKeyword("Lily went to the park with her mom.", ["dragon"])).toBe(false);
    expect(mentionsKeyword("", ["cat"])).toBe(false);
  });

  it("a refusal is never on-topic, even when it names the subject", () => {
    const refusal = "I'm sorry, but I can't help with a story about a cat.";
    expect(isRefusal(refusal)).toBe(true);
    expect(isOnTopic(refusal, ["cat"], isRefusal(refusal))).toBe(false);
    const story = " Sure! Here is a little story about a cat. Once upon a time, there was a cat who loved the rain.";
    expect(isOnTopic(story, ["cat"], isRefusal(story))).toBe(true);
    const offTopic = " Once upon a time, there was a little girl named Lily. She loved to play.";
    expect(isOnTopic(offTopic, ["cat", "kitten"], isRefusal(offTopic))).toBe(false);
  });
});
