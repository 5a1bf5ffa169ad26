/**
 * npm start as a supervisor (issue 14 faults 4 and 5):
 *
 * - start-port-in-use: a second `scripts/start.ts` on the running edge's
 *   port exits 1 naming the port and leaves no sidecar behind; the running
 *   service is untouched.
 * - shutdown: SIGTERM to the npm process alone (npm passes it to its `sh -c`
 *   only, which used to leave start.ts, the sidecar and the edge running)
 *   with streams in flight on every endpoint: every process goes, each stream ends properly,
 *   and every request has its event, flushed before the edge exits.
 *   It stops the stack (the runner starts a new one for any case after it).
 */
import { spawn } from "node:child_process";
import { PROMPTS } from "../config.ts";
import { signalGroup, waitGone } from "../procs.ts";
import { ROOT } from "../stack.ts";
import { openLongStreams } from "../traffic.ts";
import { answered, secs, streamEnded, Tally, upstreamAnswer } from "../tally.ts";
import type { ChaosCase } from "../types.ts";

export const startPortInUse: ChaosCase = {
  name: "start-port-in-use",
  fault: "#4",
  summary: "a second npm start on the edge's port: exits 1 naming the port, leaves no sidecar behind",
  async run(ctx) {
    const t = new Tally("start-port-in-use", "#4");
    const port = ctx.stack.edgePort;
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts", ...ctx.stack.sidecarArgs()], {
      cwd: ROOT,
      env: ctx.stack.env({ PORT: String(port) }),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    ctx.stack.adopt(child.pid!);
    let out = "";
    child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
    const t0 = Date.now();
    const exit = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 90_000);
      child.on("exit", (code) => (clearTimeout(timer), resolve(code)));
      ctx.signal.addEventListener("abort", () => resolve(null), { once: true });
    });
    if (exit === null) signalGroup(child.pid!, "SIGKILL");
    const sidecar = Number(/start: sidecar pid (\d+)/.exec(out)?.[1]);
    if (sidecar) ctx.stack.adopt(sidecar);
    t.goal("exits 1", exit === 1, `exit ${exit} after ${secs(Date.now() - t0)}`);
    t.goal("names the port in use", new RegExp(`port ${port} is already in use`).test(out), out.split("\n").find((l) => l.startsWith("start: the edge")) ?? "no message");
    const left = sidecar ? await waitGone([sidecar], 5_000) : [];
    t.goal("its sidecar is gone", Number.isInteger(sidecar) && left.length === 0, sidecar ? `sidecar ${sidecar}${left.length ? " still running" : " gone"}` : "no sidecar pid printed");
    for (const pick of [0, 1, 2].map((i) => ctx.mix.at(i))) t.add(await ctx.client.send({ ...pick, tag: "port-after", content: PROMPTS.conditional[1], maxTokens: 4 }), answered);
    return t.row(ctx);
  },
};

export const shutdown: ChaosCase = {
  name: "shutdown",
  fault: "#4 #5",
  summary: "SIGTERM to the npm process with streams in flight: every process goes, streams end properly, every event flushed",
  stopsStack: true,
  async run(ctx) {
    const t = new Tally("shutdown", "#4 #5");
    const npm = ctx.stack.launcherPid!;
    const pids = ctx.stack.livePids();
    const { streams, started } = await openLongStreams(ctx, ctx.quick ? 3 : 6, "shutdown");
    const json = [0, 1, 2].map((i) => ctx.client.start({ endpoint: ctx.mix.at(i).endpoint, tag: "shutdown-json", content: PROMPTS.unsteered[0], maxTokens: 200 }));
    const t0 = Date.now();
    process.kill(npm, "SIGTERM");
    ctx.stack.markStopped();
    ctx.log(`  SIGTERM to npm (pid ${npm}) with ${started} streams running`);
    for (const o of await Promise.all(streams.map((s) => s.done))) t.add(o, streamEnded);
    for (const o of await Promise.all(json.map((p) => p.done))) t.add(o, (x) => (answered(x) === null || x.status === 503 || (o.endpoint === "chat" && upstreamAnswer(x) === null) ? null : "an answer, or 503 while shutting down (chat: or the upstream's)"));
    const left = await waitGone(pids, 30_000);
    const tookMs = Date.now() - t0;
    t.goal("npm, start.ts, the sidecar and the edge all exit", left.length === 0, left.length ? `still running: ${left.join(", ")}` : `all ${pids.length} gone in ${secs(tookMs)}`);
    t.goal("start.ts stopped both children itself", /start: .*stopping/.test(ctx.stack.tail(20_000)), "");
    t.details.stopMs = tookMs;
    t.details.pids = pids;
    t.note(`all ${pids.length} processes gone ${secs(tookMs)} after the SIGTERM to npm`);
    return t.row(ctx);
  },
};
