import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["edge/**/*.test.ts", "sidecar/**/*.test.ts", "scripts/**/*.test.ts", "proto/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
