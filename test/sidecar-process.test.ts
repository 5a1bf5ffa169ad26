/**
 * The real sidecar process over real gRPC: Health, Info, and a clean exit on
 * SIGTERM.
 */
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { connectSidecar, deadlineIn, unary } from "../proto/client.ts";
import { HealthCheckResponse_ServingStatus } from "../proto/gen/health/v1/health.ts";
import { GenerateRequest } from "../proto/gen/steerguard/v1/sidecar.ts";
import { startSidecar, REPO_ROOT } from "./support/process.ts";

const version = JSON.parse(readFileSync(`${REPO_ROOT}/package.json`, "utf8")).version;

describe("sidecar process", () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => cleanup.splice(0).forEach((f) => f()));

  it("serves Health and Info, then exits 0 on SIGTERM", async () => {
    const sc = await startSidecar(["--no-model"]);
    cleanup.push(() => sc.child.kill("SIGKILL"));
    const clients = connectSidecar(sc.address);
    cleanup.push(() => clients.close());

    const health = await unary(clients.health.check.bind(clients.health), { service: "steerguard.v1.Sidecar" }, 5_000);
    expect(health.status).toBe(HealthCheckResponse_ServingStatus.SERVING);

    const info = await unary(clients.sidecar.info.bind(clients.sidecar), {}, 5_000);
    expect(info.version).toBe(version);
    expect(info.executionProvider).toBe("none");

    const gen = await new Promise<grpc.ServiceError>((resolve) => {
      const s = clients.sidecar.generate(
        GenerateRequest.fromPartial({ requestId: "x", input: { $case: "prompt", value: "hi" } }),
        { deadline: deadlineIn(5_000) },
      );
      s.on("data", () => {});
      s.on("error", resolve);
    });
    expect(gen.code).toBe(grpc.status.FAILED_PRECONDITION);

    sc.child.kill("SIGTERM");
    const exit = await sc.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(sc.output()).toContain("SIGTERM, shutting down");
  });

  it("rejects a bad flag with exit code 2 and the help text", async () => {
    await expect(startSidecar(["--port", "nope"])).rejects.toThrow(/exited \(code 2.*--port must be an integer/s);
    await expect(startSidecar(["--segment-layers", "two"])).rejects.toThrow(/exited \(code 2.*--segment-layers must be auto or an integer from 0/s);
    await expect(startSidecar(["--replica-hang-ms", "soon"])).rejects.toThrow(/exited \(code 2.*--replica-hang-ms must be an integer from 0 to 86400000, got "soon"/s);
    await expect(startSidecar(["--prefill-yield", "1.5"])).rejects.toThrow(/exited \(code 2.*--prefill-yield must be an integer from 0 to 1000000, got "1.5"/s);
    await expect(startSidecar(["--idle-chunk", "many"])).rejects.toThrow(/exited \(code 2.*--idle-chunk must be an integer from 0 to 1000000, got "many"/s);
  });
});
