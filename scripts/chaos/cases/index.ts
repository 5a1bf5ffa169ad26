/** Every case of the suite, in the order a full run takes them (the ones that stop or restart things last). */
import type { ChaosCase } from "../types.ts";
import { clientDisconnect } from "./client-disconnect.ts";
import { shutdown, startPortInUse } from "./lifecycle.ts";
import { loadRamp } from "./load-ramp.ts";
import { hugePrompt, modelLimits, stopString, unsupportedParams } from "./request-faults.ts";
import { kill9MidStream, sidecarStall, sigtermMidStream } from "./sidecar-faults.ts";
import { slowBody } from "./slow-body.ts";

export const CASES: readonly ChaosCase[] = [
  hugePrompt,
  stopString,
  slowBody,
  modelLimits,
  unsupportedParams,
  clientDisconnect,
  sidecarStall,
  kill9MidStream,
  sigtermMidStream,
  loadRamp,
  startPortInUse,
  shutdown,
];

export function caseNamed(name: string): ChaosCase | undefined {
  return CASES.find((c) => c.name === name);
}
