/** Per-step generation pieces: RNG, logits processors, sampler, logprobs, stop strings. */
export { Rng, normalizeSeed, randomSeed, splitMix64, type Seed } from "./rng.ts";
export { resolveSamplingParams, type ResolvedSamplingParams, type SamplingParams } from "./params.ts";
export type { LogitsProcessor } from "./processors/processor.ts";
export { TemperatureProcessor } from "./processors/temperature.ts";
export { TopKProcessor } from "./processors/top-k.ts";
export { TopPProcessor } from "./processors/top-p.ts";
export { LogitsProcessorList } from "./processors/list.ts";
export { Sampler, argmax, drawFromLogits } from "./sampler.ts";
export {
  logSoftmax,
  logSumExp,
  stepLogprobs,
  tokenLogprob,
  topLogprobs,
  type StepLogprobs,
  type TokenLogprob,
} from "./logprobs.ts";
export { StopStringMatcher, type StopPushResult } from "./stop.ts";
