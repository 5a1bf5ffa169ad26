import { resolveSamplingParams, type SamplingParams } from "../params.ts";
import type { LogitsProcessor } from "./processor.ts";
import { TemperatureProcessor } from "./temperature.ts";
import { TopKProcessor } from "./top-k.ts";
import { TopPProcessor } from "./top-p.ts";

/**
 * An ordered list of logits processors, applied one after another.
 *
 * `fromSamplingParams` uses the Hugging Face / transformers.js order:
 * temperature, then top-k, then top-p, so the nucleus is measured on the
 * temperature-scaled distribution. Settings that change nothing (temperature
 * 1, topK 0, topP 1) add no processor. Temperature 0 means greedy, which the
 * Sampler does by argmax; the list for it is empty.
 */
export class LogitsProcessorList implements LogitsProcessor {
  private readonly items: LogitsProcessor[];

  constructor(processors: Iterable<LogitsProcessor> = []) {
    this.items = [...processors];
  }

  static fromSamplingParams(params: SamplingParams = {}): LogitsProcessorList {
    const { temperature, topK, topP } = resolveSamplingParams(params);
    const list = new LogitsProcessorList();
    if (temperature === 0) return list;
    if (temperature !== 1) list.push(new TemperatureProcessor(temperature));
    if (topK > 0) list.push(new TopKProcessor(topK));
    if (topP < 1) list.push(new TopPProcessor(topP));
    return list;
  }

  push(processor: LogitsProcessor): void {
    this.items.push(processor);
  }

  get processors(): readonly LogitsProcessor[] {
    return this.items;
  }

  get length(): number {
    return this.items.length;
  }

  process(logits: Float32Array): Float32Array {
    let current = logits;
    for (const processor of this.items) current = processor.process(current);
    return current;
  }
}
