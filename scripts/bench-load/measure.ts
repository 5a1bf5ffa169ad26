/**
 * One process's part of `npm run bench:load` (scripts/bench-load.ts runs it
 * in a process of its own): `tsx measure.ts DIR SEGMENT_LAYERS` loads the
 * model, measures, serves one short request, measures again, and prints one
 * JSON line. It imports the engine only, so that what it measures is the
 * engine's.
 */
import { readFileSync } from "node:fs";
import { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { Engine } from "../../sidecar/engine/engine.ts";

/** What one process measured. */
export interface LoadFigures {
  layout: string;
  loadMs: number;
  loadedMb: number;
  settledMb: number;
  servingMb: number;
  peakMb: number;
}

const residentMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? NaN) / 1024;

/** Load, measure, serve one request, measure. */
async function measure(dir: string, segmentLayers: number | "auto"): Promise<LoadFigures> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const t0 = performance.now();
  const engine = await Engine.load(dir, { segmentLayers, maxBatch: 2 });
  const loadMs = performance.now() - t0;
  const loadedMb = residentMb();
  // (an ArrayBuffer's memory goes back after the collection, not during it)
  gc();
  await new Promise((r) => setTimeout(r, 2000));
  const settledMb = residentMb();
  const req = GenerateRequest.fromPartial({ requestId: "load", input: { $case: "prompt", value: "Once upon a time" }, sampling: { temperature: 0, maxTokens: 8 } });
  for await (const _ of engine.generate(req, new AbortController().signal));
  gc();
  const servingMb = residentMb();
  const layout = engine.graphLayout;
  await engine.close();
  return { layout, loadMs, loadedMb, settledMb, servingMb, peakMb: process.resourceUsage().maxRSS / 1024 };
}

const [dir, layers] = process.argv.slice(2);
process.stdout.write(`${JSON.stringify(await measure(dir!, layers === "auto" ? "auto" : Number(layers)))}\n`);
