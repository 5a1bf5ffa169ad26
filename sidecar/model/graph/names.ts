/**
 * Tensor names of the decoder graph that other code relies on. Inputs and
 * outputs follow Optimum / transformers.js so their tools can run our exports.
 */
export const INPUT_IDS = "input_ids";
export const ATTENTION_MASK = "attention_mask";
export const POSITION_IDS = "position_ids";
export const LOGITS = "logits";

export const pastKey = (layer: number) => `past_key_values.${layer}.key`;
export const pastValue = (layer: number) => `past_key_values.${layer}.value`;
export const presentKey = (layer: number) => `present.${layer}.key`;
export const presentValue = (layer: number) => `present.${layer}.value`;

/**
 * Graphs built with fused attention (`build-model --attention gqa`,
 * onnxruntime's com.microsoft GroupQueryAttention) take no attention_mask:
 * each row's cache is left-aligned in `past_key_values.N.*` ([B, nKv,
 * capacity, headDim]) and these give its length. Both int32.
 *   seqlens_k              [B]  each row's length after this step, minus 1
 *   total_sequence_length  []   the longest row's length after this step
 */
export const SEQLENS_K = "seqlens_k";
export const TOTAL_SEQUENCE_LENGTH = "total_sequence_length";
/**
 * A fused-attention graph's other outputs in place of `present.N.*`: only the
 * keys (rotated) and values of this step's new tokens, [B, S, nKv * headDim];
 * the engine writes them into its cache (sidecar/engine/gqa-kv-cache.ts).
 */
export const newKey = (layer: number) => `new_key_values.${layer}.key`;
export const newValue = (layer: number) => `new_key_values.${layer}.value`;

/**
 * The residual stream at the output of decoder block `layer` (0-based),
 * [batch, seq, dModel] float32: SAELens `blocks.L.hook_resid_post`, HF
 * `hidden_states[L + 1]` (except the last block, whose HF hidden state is
 * taken after the final norm). The steering hook is inserted on this tensor:
 * its consumers are the next block's input norm and residual add (or the final norm).
 */
export const residPost = (layer: number) => `/model/layers.${layer}/resid_post`;
