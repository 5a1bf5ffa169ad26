import { describe, expect, it } from "vitest";
import { LogitsProcessorList } from "./list.ts";
import { TemperatureProcessor } from "./temperature.ts";
import { TopKProcessor } from "./top-k.ts";
import { TopPProcessor } from "./top-p.ts";

const NEG = -Infinity;

describe("LogitsProcessorList", () => {
  it("builds temperature, top-k, top-p in that order", () => {
    const list = LogitsProcessorList.fromSamplingParams({ temperature: 0.5, topK: 3, topP: 0.9 });
    expect(list.processors.map((p) => p.constructor)).toEqual([TemperatureProcessor, TopKProcessor, TopPProcessor]);
  });

  it("applies them in order (hand-computed)", () => {
    // t = 0.5 (shifted by the max 2): [0, -2, -4, -6, -8]; top-k 3: [0, -2, -4, -inf, -inf];
    // softmax of [0, -2, -4] = 1, e^-2, e^-4 over 1.1536 = 0.8668, 0.1173, 0.0159;
    // top-p 0.9: 0.8668 < 0.9, 0.9841 >= 0.9, so ids 0 and 1 survive.
    const list = LogitsProcessorList.fromSamplingParams({ temperature: 0.5, topK: 3, topP: 0.9 });
    expect([...list.process(new Float32Array([2, 1, 0, -1, -2]))]).toEqual([0, -2, NEG, NEG, NEG]);
  });

  it("measures the nucleus after temperature", () => {
    // Probabilities 0.7, 0.3 with top-p 0.65: at t = 1 the first token alone
    // reaches 0.65. At t = 4 they become 0.7^0.25 : 0.3^0.25 = 0.9147 : 0.7401,
    // i.e. 0.553 and 0.447, so both are needed.
    const row = () => Float32Array.from([0.7, 0.3].map(Math.log));
    const alive = (out: Float32Array) => [...out].filter((v) => v !== NEG).length;
    expect(alive(LogitsProcessorList.fromSamplingParams({ topP: 0.65 }).process(row()))).toBe(1);
    expect(alive(LogitsProcessorList.fromSamplingParams({ temperature: 4, topP: 0.65 }).process(row()))).toBe(2);
  });

  it("adds nothing for the defaults or for greedy", () => {
    expect(LogitsProcessorList.fromSamplingParams({}).length).toBe(0);
    expect(LogitsProcessorList.fromSamplingParams({ temperature: 1, topK: 0, topP: 1 }).length).toBe(0);
    expect(LogitsProcessorList.fromSamplingParams({ temperature: 0, topK: 5, topP: 0.5 }).length).toBe(0);
  });

  it("composes hand-built processors", () => {
    const list = new LogitsProcessorList([new TopKProcessor(1)]);
    list.push(new TemperatureProcessor(2));
    expect([...list.process(new Float32Array([1, 6, 3]))]).toEqual([NEG, 0, NEG]);
  });

  it("validates the sampling parameters", () => {
    expect(() => LogitsProcessorList.fromSamplingParams({ temperature: -1 })).toThrow(RangeError);
    expect(() => LogitsProcessorList.fromSamplingParams({ topK: 1.5 })).toThrow(RangeError);
    expect(() => LogitsProcessorList.fromSamplingParams({ topP: 2 })).toThrow(RangeError);
  });
});
