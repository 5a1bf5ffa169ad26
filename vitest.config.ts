import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["edge/**/*.test.ts", "sidecar/**/*.test.ts", "scripts/**/*.test.ts", "proto/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests leave nothing in TMPDIR: onnxruntime's telemetry (mat-debug-PID.log, .ses; the
    // sidecar turns it off itself in sidecar/onnxruntime.ts) and tsx's compile cache (tsx-0/)
    // would, in this process and every child it starts.
    env: { ORT_DISABLE_TELEMETRY: "1", TSX_DISABLE_CACHE: "1" },
  },
});
