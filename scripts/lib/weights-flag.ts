/**
 * The --weights LIST flag of the bench and eval scripts: comma-separated
 * weight precisions (sidecar/model/quantize.ts), each once, in order.
 */
import { isWeightPrecision, WEIGHT_PRECISIONS, type WeightPrecision } from "../../sidecar/model/quantize.ts";
import { UsageError } from "./cli.ts";

export function weightsList(raw: string): WeightPrecision[] {
  const list = [...new Set(raw.split(",").map((w) => w.trim()).filter(Boolean))];
  for (const w of list) {
    if (!isWeightPrecision(w)) throw new UsageError(`unknown weight precision "${w}" (known: ${WEIGHT_PRECISIONS.join(", ")})`);
  }
  if (list.length === 0) throw new UsageError("--weights is empty");
  return list as WeightPrecision[];
}
