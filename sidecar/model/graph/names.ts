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
 * The residual stream at the output of decoder block `layer` (0-based),
 * [batch, seq, dModel] float32: SAELens `blocks.L.hook_resid_post`, HF
 * `hidden_states[L + 1]` (except the last block, whose HF hidden state is
 * taken after the final norm). The steering hook is inserted on this tensor:
 * its consumers are the next block's input norm and residual add (or the final norm).
 */
export const residPost = (layer: number) => `/model/layers.${layer}/resid_post`;
