import { describe, expect, it } from "vitest";
import { StopStringMatcher } from "./stop.ts";

/** Pushes every delta and returns all emitted text plus whether it stopped. */
function run(stops: string[], deltas: string[]): { text: string; stopped: boolean; matched?: string } {
  const matcher = new StopStringMatcher(stops);
  let text = "";
  for (const delta of deltas) {
    const { emit, stopped } = matcher.push(delta);
    text += emit;
    if (stopped) return { text, stopped, matched: matcher.matched };
  }
  return { text: text + matcher.flush(), stopped: false };
}

describe("StopStringMatcher", () => {
  it("passes text through when there are no stop strings", () => {
    const matcher = new StopStringMatcher([]);
    expect(matcher.push("hello ")).toEqual({ emit: "hello ", stopped: false });
    expect(matcher.flush()).toBe("");
  });

  it("stops inside a single delta and drops the stop string and what follows", () => {
    expect(run(["END"], ["abcENDdef"])).toEqual({ text: "abc", stopped: true, matched: "END" });
  });

  it("stops on a stop string spread across several deltas, holding back the prefix", () => {
    const matcher = new StopStringMatcher(["</s>"]);
    expect(matcher.push("Hi <")).toEqual({ emit: "Hi ", stopped: false });
    expect(matcher.push("/")).toEqual({ emit: "", stopped: false });
    expect(matcher.push("s> more")).toEqual({ emit: "", stopped: true });
    expect(matcher.push("ignored")).toEqual({ emit: "", stopped: true });
    expect(matcher.flush()).toBe("");
  });

  it("emits held text once a partial match diverges", () => {
    const matcher = new StopStringMatcher(["STOP"]);
    expect(matcher.push("a ST")).toEqual({ emit: "a ", stopped: false });
    expect(matcher.push("O")).toEqual({ emit: "", stopped: false });
    expect(matcher.push("RM")).toEqual({ emit: "STORM", stopped: false });
  });

  it("re-checks a diverging match for a new partial match", () => {
    // "aab" with stop "ab": "a" held, then "a" diverges the first but starts a new one.
    const matcher = new StopStringMatcher(["ab"]);
    expect(matcher.push("a")).toEqual({ emit: "", stopped: false });
    expect(matcher.push("a")).toEqual({ emit: "a", stopped: false });
    expect(matcher.push("b")).toEqual({ emit: "", stopped: true });
  });

  it("flush returns text still held at the end of the stream", () => {
    const matcher = new StopStringMatcher(["\n\nUser:"]);
    expect(matcher.push("done.\n\nUs")).toEqual({ emit: "done.", stopped: false });
    expect(matcher.flush()).toBe("\n\nUs");
    expect(matcher.stopped).toBe(false);
  });

  it("with several stop strings, the earliest occurrence wins", () => {
    expect(run(["world", "lo"], ["hello world"])).toEqual({ text: "hel", stopped: true, matched: "lo" });
    expect(run(["xyz", "b"], ["a", "bc"])).toEqual({ text: "a", stopped: true, matched: "b" });
    // The longer stop's prefix is held, then the shorter one completes first.
    expect(run(["abcd", "bc"], ["ab", "c"])).toEqual({ text: "a", stopped: true, matched: "bc" });
  });

  it("holds back the longest prefix of any stop string", () => {
    const matcher = new StopStringMatcher(["xy", "abc"]);
    expect(matcher.push("zzab")).toEqual({ emit: "zz", stopped: false });
    // "ab" diverges from "abc", but the new "x" may start "xy".
    expect(matcher.push("x")).toEqual({ emit: "ab", stopped: false });
    expect(matcher.push("q")).toEqual({ emit: "xq", stopped: false });
  });

  it("stops at the very start", () => {
    expect(run(["<|end|>"], ["<|end|>trailing"])).toEqual({ text: "", stopped: true, matched: "<|end|>" });
    expect(run(["<|end|>"], ["<|", "end", "|>"])).toEqual({ text: "", stopped: true, matched: "<|end|>" });
  });

  it("never splits a surrogate pair when holding back", () => {
    const matcher = new StopStringMatcher(["😀!"]);
    expect(matcher.push("hi 😀")).toEqual({ emit: "hi ", stopped: false });
    expect(matcher.push("?")).toEqual({ emit: "😀?", stopped: false });
  });

  it("rejects empty stop strings", () => {
    expect(() => new StopStringMatcher([""])).toThrow(RangeError);
  });
});
