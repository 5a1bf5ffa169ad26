/**
 * The suite's upstream: the edge falls back to it for safe chat requests when
 * the sidecar cannot answer (`upstream.use: "fallback"`). It answers one fixed
 * text, so the client can tell its answers from the model's, and it records
 * every prompt it was sent (test/support/fake-upstream.ts): a steered,
 * conditional or blocked prompt among them is the failure policy sending a
 * risky request upstream (edge/README.md, "Failure policy": never).
 */
import { FakeUpstream } from "../../test/support/fake-upstream.ts";

export const UPSTREAM_TEXT = "[chaos upstream answer]";

export const chaosUpstream = () => new FakeUpstream([UPSTREAM_TEXT]);
