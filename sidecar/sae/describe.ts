/**
 * One line saying what an SAE was read as, for logs and command-line tools:
 *   "Gemma Scope params.npz: JumpReLU, d_in 2304, d_sae 16384, layer 20 (blocks.20.hook_resid_post)"
 */
import type { Sae } from "./types.ts";

const ARCH = { relu: "ReLU", jumprelu: "JumpReLU", topk: "TopK" } as const;

export function describeSae(sae: Sae): string {
  const arch = sae.architecture === "topk" ? `TopK (k ${sae.k})` : ARCH[sae.architecture];
  const layer =
    sae.layer !== undefined
      ? `layer ${sae.layer}${sae.hook ? ` (${sae.hook})` : ""}`
      : sae.hook
        ? `hook ${sae.hook} (not a layer number: give the layer)`
        : "no layer in its files (give the layer)";
  return `${sae.format ?? "SAE"}: ${arch}, d_in ${sae.dIn}, d_sae ${sae.dSae}, ${layer}`;
}
