/**
 * A sparse autoencoder in memory, whatever layout it was loaded from
 * (SAELens, EleutherAI sparsify, Gemma Scope, Llama Scope, or our own trainer,
 * which writes SAELens). Loaders fold any input normalisation or decoder-norm
 * rescaling into these weights, so the formula below is the whole forward.
 * The steering math that uses it is in ../../shared/DESIGN.md and
 * sidecar/steering/.
 *
 * Encoder for feature i:  f_i(x) = act(W_enc[:, i] . (x - b_dec) + b_enc[i])
 * (`x` alone when applyBDecToInput is false). act: ReLU; JumpReLU (zero below
 * threshold[i]); TopK (ReLU, then only the k largest pre-activations over
 * the whole SAE survive). Decoder direction d_i = W_dec[i, :].
 */
export type SaeArchitecture = "relu" | "jumprelu" | "topk";

export interface Sae {
  architecture: SaeArchitecture;
  /** Residual width the SAE reads (must equal the model's d_model). */
  dIn: number;
  /** Number of features. */
  dSae: number;
  /** [dIn, dSae] row-major (SAELens layout). */
  wEnc: Float32Array;
  /** [dSae] */
  bEnc: Float32Array;
  /** [dSae, dIn] row-major. */
  wDec: Float32Array;
  /** [dIn] */
  bDec: Float32Array;
  /** JumpReLU only: [dSae]. */
  threshold?: Float32Array;
  /** TopK only. */
  k?: number;
  applyBDecToInput: boolean;
  /**
   * The layer it reads, in DESIGN.md's convention (output of block L), when
   * the config says (SAELens hook_name blocks.L.hook_resid_post -> L,
   * hook_resid_pre -> L - 1); undefined when the config does not say.
   */
  layer?: number;
  /** Where it was loaded from, for error messages. */
  source: string;
  /**
   * What it was read as, for people: the layout and files, the model the
   * files name, and anything folded into the weights on load, e.g.
   * "Gemma Scope params.npz" (describe.ts's describeSae builds the full line).
   */
  format?: string;
  /** The hook point as the files name it (e.g. "blocks.20.hook_resid_post", sparsify's "layers.4"). */
  hook?: string;
}
