/**
 * The backend of a sidecar started without a model (`--no-model`): it answers
 * Health and Info, and refuses Generate and Probe with FAILED_PRECONDITION.
 * Useful for checking wiring and deployment without loading weights.
 */
import { status } from "@grpc/grpc-js";
import { InfoResponse } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { VERSION } from "../version.ts";
import { SidecarError, type SidecarBackend } from "./backend.ts";

export class NoModelBackend implements SidecarBackend {
  info(): InfoResponse {
    return InfoResponse.fromPartial({ executionProvider: "none", version: VERSION });
  }

  // eslint-disable-next-line require-yield
  async *generate(): AsyncIterable<never> {
    throw new SidecarError(status.FAILED_PRECONDITION, "this sidecar was started without a model");
  }

  async probe(): Promise<never> {
    throw new SidecarError(status.FAILED_PRECONDITION, "this sidecar was started without a model");
  }
}
