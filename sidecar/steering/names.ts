/**
 * Tensor names of the steering hook (./hook.ts), one hook per hooked layer L.
 * Everything the hook adds to a graph is prefixed `steer.L{L}` so a hook can
 * be found, replaced (attaching another SAE) or removed by name.
 *
 * Per-step inputs (small; B = batch, K = selected features, S = new tokens):
 *   steer.L{L}.features   [B, K] int64    feature indices into the baked SAE
 *   steer.L{L}.modes      [B, K] int64    0 = clamp, 1 = scale, 2 = add
 *   steer.L{L}.values     [B, K] float32  clamp target c / scale factor k / added amount c
 *   steer.L{L}.gate       [B]    float32  0 = the hook is an exact no-op for the row; when every
 *                                          row's gate is 0 the hook's work is skipped altogether (an If)
 *   steer.L{L}.strength   [B]    float32  multiplies the values (DESIGN.md)
 *   steer.L{L}.positions  [B, S] float32  1 where the position is steered ("generated" masks the prompt)
 *   steer.L{L}.cond_weights   [B, K] float32  conditional steering: the condition's weight of each
 *                                          feature slot (0 for slots the condition does not use)
 *   steer.L{L}.cond_threshold [B]    float32  a position is steered only if its condition value is not
 *                                          below this; -Infinity (with weights 0) for rows without one
 * Rows steered with fewer than K features pad with (index 0, add, 0), which adds exactly 0.
 * A condition's features that are not steering features ride in extra slots as (index, add, 0).
 *
 * Initializers (the SAE, baked in once; never per step):
 *   steer.L{L}.W_enc      [dIn, dSae]  TopK only (the hook needs every pre-activation)
 *   steer.L{L}.W_enc_T    [dSae, dIn]  ReLU / JumpReLU (rows gathered per request)
 *   steer.L{L}.b_enc      [dSae]
 *   steer.L{L}.W_dec      [dSae, dIn]
 *   steer.L{L}.b_dec      [dIn]        only when the SAE subtracts b_dec from its input
 *   steer.L{L}.threshold  [dSae]       JumpReLU only
 *   steer.L{L}.k          [1] int64    TopK only
 *   (plus small constants, all named steer.L{L}.*)
 *
 * Tensors:
 *   steer.L{L}.in    the residual stream the hook reads (an Identity of the hooked tensor)
 *   steer.L{L}.acts  [B, S, K] float32  f_i(x) of the selected features (a graph output; Probe reads
 *                    it with gate 1 and positions all 0); an empty [0, 0, 0] when every gate is 0
 *   steer.L{L}.cond  [B, S] float32  sum_j cond_weights[b, j] * acts[b, s, j] (a graph output the
 *                    engine reads at a conditional row's last prompt token); [0, 0] when every gate is 0
 *   steer.L{L}.out   [B, S, dModel]  the steered residual stream; every former consumer
 *                    of the hooked tensor reads this instead
 * A hooked layer without an SAE has only `.in` and `.out` (an Identity): a
 * place to attach one later.
 */
export const hookPrefix = (layer: number) => `steer.L${layer}`;
export const steerIn = (layer: number) => `${hookPrefix(layer)}.in`;
export const steerOut = (layer: number) => `${hookPrefix(layer)}.out`;
export const steerActs = (layer: number) => `${hookPrefix(layer)}.acts`;
export const steerCond = (layer: number) => `${hookPrefix(layer)}.cond`;

export const steerFeatures = (layer: number) => `${hookPrefix(layer)}.features`;
export const steerModes = (layer: number) => `${hookPrefix(layer)}.modes`;
export const steerValues = (layer: number) => `${hookPrefix(layer)}.values`;
export const steerGate = (layer: number) => `${hookPrefix(layer)}.gate`;
export const steerStrength = (layer: number) => `${hookPrefix(layer)}.strength`;
export const steerPositions = (layer: number) => `${hookPrefix(layer)}.positions`;
export const steerCondWeights = (layer: number) => `${hookPrefix(layer)}.cond_weights`;
export const steerCondThreshold = (layer: number) => `${hookPrefix(layer)}.cond_threshold`;

/** The per-step input names of a hooked layer that has an SAE. */
export const steerInputs = (layer: number) => [
  steerFeatures(layer), steerModes(layer), steerValues(layer), steerGate(layer), steerStrength(layer), steerPositions(layer),
  steerCondWeights(layer), steerCondThreshold(layer),
];

export const MODE_CODE = { clamp: 0, scale: 1, add: 2 } as const;

/** Graph metadata key under which the hook records what it baked (JSON, per layer). */
export const HOOK_METADATA_KEY = "steerguard.hooks";

/**
 * The hook's interface version, recorded in its HookRecord (`format`). A
 * model whose hook records an older one (none: 1, before the condition
 * inputs) has its SAE attached again at load (registry.ts prepareModel).
 * Bump it whenever the hook's inputs or outputs change.
 */
export const HOOK_FORMAT = 2;
