/**
 * The logits-processor contract, as in transformers.js generation: each
 * processor is a small class with one job, applied to the logits of ONE row
 * (one sequence, vocabulary size V) at one decoding step.
 *
 * `process` may modify `logits` in place and returns the array to use next
 * (the same one, for every processor here). Tokens a processor rules out are
 * set to -Infinity, so a later softmax gives them probability 0.
 * Processors assume the logits hold no NaN (the Sampler replaces NaN with
 * -Infinity before processing).
 */
export interface LogitsProcessor {
  process(logits: Float32Array): Float32Array;
}
