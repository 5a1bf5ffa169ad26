import type { LogitsProcessor } from "./processor.ts";

/**
 * Divides the logits by the temperature: below 1 sharpens the distribution,
 * above 1 flattens it. Temperature 0 (greedy) is not a division; the Sampler
 * handles it with argmax, so this class requires a temperature > 0.
 *
 * The row is first shifted so its largest logit is 0, i.e. the output is
 * (x - max) / t. The softmax is unchanged by the shift, and it keeps a tiny
 * temperature from overflowing float32 to +Infinity (which would tie every
 * positive logit); instead the runners-up go to -Infinity and sampling
 * tends to greedy, as it should.
 */
export class TemperatureProcessor implements LogitsProcessor {
  constructor(readonly temperature: number) {
    if (!Number.isFinite(temperature) || temperature <= 0) {
      throw new RangeError(`temperature must be a finite number > 0, got ${temperature}`);
    }
  }

  process(logits: Float32Array): Float32Array {
    if (this.temperature === 1) return logits;
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) {
      if (logits[i] > max) max = logits[i];
    }
    const shift = Number.isFinite(max) ? max : 0;
    for (let i = 0; i < logits.length; i++) {
      logits[i] = (logits[i] - shift) / this.temperature;
    }
    return logits;
  }
}
