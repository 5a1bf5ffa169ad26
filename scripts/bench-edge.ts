/**
 * `npm run bench:edge`: how much latency the edge adds. Starts one sidecar
 * (organism260K by default) and the real edge under Deno in front of it, then
 * sends the same 1-token chat requests both directly to the sidecar over gRPC
 * and through the edge over HTTP (auth, validation, classifier, routing,
 * proxying, decision events on), and prints side by side: p50 and p99 with
 * one client (alternating direct and edge requests, so drift hits both), the
 * added latency, and requests/s with 32 concurrent clients.
 *
 * Goal (issue 5): under 2 ms added at p50, under 10 ms at p99.
 *
 * For reading the result (the "added" numbers are unchanged by it), the bench
 * also times one HTTP hop with nothing behind it: the same client and request
 * against a bare Deno.serve that answers at once, each hop right after a direct
 * gRPC call so that the server has been idle as long as the edge is between
 * its requests. On a small (virtual) machine a loopback round trip to a process
 * that has slept for a few ms costs about 1 ms (0.3 ms back to back), and the
 * edge pays it on every request; "added beyond the bare hop" is what the
 * edge's own code and its gRPC client add on top.
 *
 * Mutual TLS (issue 19): unless --plaintext-only, a second sidecar serves
 * mutual TLS (certificates from scripts/certs in a temporary folder) with a
 * second edge in front of it configured with sidecar.tls, and the one-client
 * loop alternates all four paths (direct and via the edge, plaintext and
 * TLS), so that the TLS rows are measured side by side with the plaintext
 * ones; the time to open a new connection and make one Health.Check call,
 * which includes the TLS handshake, is timed the same way.
 *
 * Also for reading it: a direct call is timed to its end (the gRPC status,
 * which follows the finish chunk), while the edge answers as soon as the
 * finish chunk is in; the bench prints the direct calls' time to the finish
 * chunk and the edge's added latency measured against that as well.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ClientTlsProvider, connectSidecar, deadlineIn, unary, type ClientTls, type SidecarClients } from "../proto/client.ts";
import { GenerateRequest, type GenerateChunk } from "../proto/gen/steerguard/v1/sidecar.ts";
import { edgeDenoArgs } from "../edge/permissions.ts";
import { loadRiskScorer } from "../edge/risk/index.ts";
import { modelOrSource, resolveModelDir } from "../sidecar/model-source.ts";
import { genCerts } from "./certs/index.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

const HELP = `Usage: npm run bench:edge -- [options]

Measures the latency the edge adds over calling the sidecar directly, for the same
1-token requests, and requests/s at 32 concurrent clients.

Options:
  --model DIR         built model or checkpoint for the sidecar (default: ../shared/models/organism260K)
  --requests N        sequential requests per side for p50/p99 (default 400)
  --concurrency C     concurrent clients for the throughput run (default 32)
  --duration-s S      seconds per side for the throughput run (default 5)
  --prompt TEXT       the user message (default: a benign question)
  --sidecar-threads N onnxruntime intra-op threads of the sidecar (default 1: spinning
                      worker threads would starve the edge on a small machine)
  --warmup N          warm-up requests per side (default 50)
  --plaintext-only    skip the mutual-TLS sidecar and edge (by default their latency is
                      measured beside the plaintext ones, alternating)
  --json              print the results as JSON too
  -h, --help          show this help
`;

const KEY = "sk-bench";

function startChild(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp) {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const match = new Promise<RegExpMatchArray>((resolve, reject) => {
    const on = (b: Buffer) => {
      out += b.toString();
      const m = out.match(ready);
      if (m) resolve(m);
    };
    child.stdout!.on("data", on);
    child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
    child.on("exit", (code) => reject(new Error(`${name} exited (code ${code}) before ready:\n${out}`)));
  });
  return { child, match };
}

/** The mutual-TLS rows: each path with TLS beside plaintext (measured alternating in the same loop). */
function tlsLines(m: { direct: { p50: number; p99: number }; edge: { p50: number; p99: number }; new_connection_ms: { plaintext_p50: number; tls_p50: number; n: number } } | null, plain?: { direct: { p50: number; p99: number }; edge: { p50: number; p99: number } }): string[] {
  if (!m) return ["", "mutual TLS: not measured (--plaintext-only)"];
  const f = (x: number) => x.toFixed(2).padStart(9);
  return [
    "",
    "mutual TLS beside plaintext, 1 client   plaintext   mutual TLS   TLS adds",
    ...(plain
      ? [
          `direct gRPC       p50 ms               ${f(plain.direct.p50)}  ${f(m.direct.p50)}    ${f(m.direct.p50 - plain.direct.p50)}`,
          `direct gRPC       p99 ms               ${f(plain.direct.p99)}  ${f(m.direct.p99)}    ${f(m.direct.p99 - plain.direct.p99)}`,
          `via edge          p50 ms               ${f(plain.edge.p50)}  ${f(m.edge.p50)}    ${f(m.edge.p50 - plain.edge.p50)}`,
          `via edge          p99 ms               ${f(plain.edge.p99)}  ${f(m.edge.p99)}    ${f(m.edge.p99 - plain.edge.p99)}`,
        ]
      : []),
    `new connection + Health.Check p50 ms   ${f(m.new_connection_ms.plaintext_p50)}  ${f(m.new_connection_ms.tls_p50)}    ${f(m.new_connection_ms.tls_p50 - m.new_connection_ms.plaintext_p50)}   (n=${m.new_connection_ms.n}; the handshake, paid once per connection)`,
  ];
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

async function main() {
  const { values } = parseArgs({
    options: {
      model: { type: "string" },
      requests: { type: "string", default: "400" },
      concurrency: { type: "string", default: "32" },
      "duration-s": { type: "string", default: "5" },
      prompt: { type: "string", default: "What is the capital of France?" },
      "sidecar-threads": { type: "string", default: "1" },
      warmup: { type: "string", default: "50" },
      "plaintext-only": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const N = Number(values.requests);
  const C = Number(values.concurrency);
  const D = Number(values["duration-s"]) * 1000;
  const prompt = values.prompt!;

  const dir = await resolveModelDir({ ...modelOrSource(values.model), log: (m) => process.stderr.write(`bench: ${m}\n`) });
  const cfgDir = mkdtempSync(join(tmpdir(), "bench-edge-"));
  process.on("exit", () => rmSync(cfgDir, { recursive: true, force: true }));
  const withTls = !values["plaintext-only"];
  const certs = withTls ? genCerts(join(cfgDir, "pki")) : null;
  /** A sidecar (plaintext, or mutual TLS with `certs`) and an edge in front of it. */
  const startPair = async (name: string, tls: typeof certs) => {
    const tlsFlags = tls ? ["--tls-cert", tls.server.cert, "--tls-key", tls.server.key, "--tls-client-ca", tls.ca.cert] : [];
    const sc = startChild(`${name} sidecar`, process.execPath, ["--import", "tsx", "sidecar/main.ts", "--port", "0", "--model", dir, "--max-queue", "1024", "--threads", values["sidecar-threads"]!, ...tlsFlags], {}, /sidecar listening on (\S+)\n/);
    const address = (await sc.match)[1];
    const cfg = join(cfgDir, `${name}-config.json`);
    const eventsPath = join(cfgDir, `${name}-events.jsonl`);
    const sidecarTls = tls ? { tls: { ca: tls.ca.cert, cert: tls.client.cert, key: tls.client.key, server_name: "localhost" } } : {};
    writeFileSync(cfg, JSON.stringify({ sidecars: [address], rate_limit: { requests_per_minute: 0 }, sidecar: { health_interval_ms: 5_000, ...sidecarTls }, events: { path: eventsPath } }));
    const edgeEnv = { STEERGUARD_CONFIG: cfg, STEERGUARD_API_KEYS: KEY, NO_COLOR: "1" };
    const edge = startChild(
      `${name} edge`,
      join(ROOT, "node_modules/.bin/deno"),
      edgeDenoArgs(["--port", "0"], { env: { ...process.env, ...edgeEnv }, cwd: ROOT }),
      edgeEnv,
      /edge listening on (http:\/\/\S+)\n/,
    );
    return { sc, address, edge, url: (await edge.match)[1], eventsPath };
  };
  const plain = await startPair("plaintext", null);
  const { sc, address, edge, url, eventsPath } = plain;
  const secure = certs ? await startPair("tls", certs) : null;
  const BARE =
    'Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: (a) => console.log(`bare listening on ${a.port}`) }, async (r) => { await r.arrayBuffer(); return new Response(\'{"ok":true}\', { headers: { "content-type": "application/json" } }); });';
  const bare = startChild("bare Deno.serve", join(ROOT, "node_modules/.bin/deno"), ["eval", BARE], { NO_COLOR: "1" }, /bare listening on (\d+)\n/);
  const barePort = (await bare.match)[1];
  const stop = () => {
    secure?.edge.child.kill("SIGTERM");
    secure?.sc.child.kill("SIGTERM");
    bare.child.kill("SIGTERM");
    edge.child.kill("SIGTERM");
    sc.child.kill("SIGTERM");
  };
  process.on("SIGINT", () => {
    stop();
    process.exit(130);
  });

  const clients: SidecarClients = connectSidecar(address);
  let clientTls: ClientTls | undefined;
  if (certs) {
    clientTls = { provider: new ClientTlsProvider({ ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key }), serverName: "localhost" };
    await clientTls.provider.start();
  }
  const tlsClients = secure ? connectSidecar(secure.address, {}, clientTls) : null;
  const grpcReq = GenerateRequest.fromPartial({
    requestId: "bench",
    input: { $case: "conversation", value: { messages: [{ role: "user", content: prompt }] } },
    sampling: { maxTokens: 1, temperature: 0 },
  });
  const httpBody = JSON.stringify({ model: "organism260K", messages: [{ role: "user", content: prompt }], max_tokens: 1, temperature: 0 });

  // When the last direct call got its finish chunk: the edge answers on that
  // chunk, while a direct call ends with the gRPC status after it.
  let finishAt = 0;
  const directOn = (c: SidecarClients) => () =>
    new Promise<void>((resolve, reject) => {
      const s = c.sidecar.generate(grpcReq, { deadline: deadlineIn(30_000) });
      s.on("data", (c: GenerateChunk) => {
        if (c.finish) finishAt = performance.now();
      });
      s.on("end", () => resolve());
      s.on("error", reject);
    });
  const direct = directOn(clients);
  const directTls = tlsClients ? directOn(tlsClients) : null;
  let route = "";
  let seq = 0;
  let tag = "warm";
  // node:http with keep-alive: Node's fetch (undici) adds ~3 ms per POST to
  // Deno.serve on loopback (measured: 3.8 ms vs 0.3 ms p50 against a bare
  // Deno.serve), which is the client's cost, not the edge's.
  const agent = new http.Agent({ keepAlive: true, maxSockets: C + 4 });
  const edgeUrl = new URL(url);
  const viaEdge = (port: string = edgeUrl.port) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(
        {
          host: edgeUrl.hostname,
          port,
          path: "/v1/chat/completions",
          method: "POST",
          agent,
          headers: {
            authorization: `Bearer ${KEY}`,
            "content-type": "application/json",
            "content-length": Buffer.byteLength(httpBody),
            "x-request-id": `${tag}-${seq++}`,
          },
        },
        (res) => {
          if (port === edgeUrl.port) route = String(res.headers["x-steerguard-route"] ?? "");
          let text = "";
          res.on("data", (b: Buffer) => (text += b.toString()));
          res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`edge answered ${res.statusCode}: ${text}`))));
        },
      );
      req.on("error", reject);
      req.end(httpBody);
    });
  const timed = async (f: () => Promise<void>) => {
    const t = performance.now();
    await f();
    return performance.now() - t;
  };

  // Wait for the edge to see the sidecar healthy, then warm both paths.
  for (const u of [url, ...(secure ? [secure.url] : [])]) {
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${u}/readyz`);
      await r.arrayBuffer();
      if (r.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const tlsPort = secure ? new URL(secure.url).port : "";
  for (let i = 0; i < Number(values.warmup); i++) {
    await direct();
    await viaEdge();
    if (directTls) {
      await directTls();
      await viaEdge(tlsPort);
    }
  }

  // One client, alternating.
  tag = "seq";
  const d1: number[] = [];
  const dFinish: number[] = [];
  const e1: number[] = [];
  const timedDirect = async () => {
    const t = performance.now();
    await direct();
    d1.push(performance.now() - t);
    dFinish.push(finishAt - t);
  };
  // With TLS, its two paths follow the plaintext ones, in the reverse order every other round.
  const d1t: number[] = [];
  const e1t: number[] = [];
  const tlsPair = async (even: boolean) => {
    if (!directTls) return;
    if (even) {
      d1t.push(await timed(directTls));
      e1t.push(await timed(() => viaEdge(tlsPort)));
    } else {
      e1t.push(await timed(() => viaEdge(tlsPort)));
      d1t.push(await timed(directTls));
    }
  };
  for (let i = 0; i < N; i++) {
    if (i % 2 === 0) {
      await timedDirect();
      e1.push(await timed(viaEdge));
      await tlsPair(true);
    } else {
      await tlsPair(false);
      e1.push(await timed(viaEdge));
      await timedDirect();
    }
  }
  for (const a of [d1t, e1t]) a.sort((a, b) => a - b);

  // A new connection and one Health.Check (the TLS handshake included), alternating.
  const connectPlain: number[] = [];
  const connectTls: number[] = [];
  const connectOnce = async (target: string, tls?: ClientTls) => {
    const t = performance.now();
    // A local subchannel pool: a new connection, not one shared with the clients above.
    const c = connectSidecar(target, { "grpc.use_local_subchannel_pool": 1 }, tls);
    await unary(c.health.check.bind(c.health), { service: "" }, 10_000);
    const ms = performance.now() - t;
    c.close();
    return ms;
  };
  if (secure) {
    for (let i = 0; i < Math.min(N, 50); i++) {
      connectPlain.push(await connectOnce(address));
      connectTls.push(await connectOnce(secure.address, clientTls));
    }
  }
  for (const a of [connectPlain, connectTls]) a.sort((a, b) => a - b);
  d1.sort((a, b) => a - b);
  dFinish.sort((a, b) => a - b);
  e1.sort((a, b) => a - b);

  // The bare HTTP hop, paced like the edge's requests above (after a direct call).
  const hop: number[] = [];
  for (let i = 0; i < Math.min(N, 200); i++) {
    await direct();
    hop.push(await timed(() => viaEdge(barePort)));
  }
  hop.sort((a, b) => a - b);

  // C concurrent clients, one side at a time.
  const load = async (f: () => Promise<void>) => {
    const lat: number[] = [];
    const until = performance.now() + D;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: C }, async () => {
        while (performance.now() < until) lat.push(await timed(f));
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    return { rps: lat.length / secs, p50: pct(lat, 50), p99: pct(lat, 99), n: lat.length };
  };
  tag = "load";
  const dl = await load(direct);
  const el = await load(viaEdge);

  // The classifier alone, in this (Node) process, for the same prompt.
  const scorer = await loadRiskScorer({ warn: () => {} });
  const cl: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    scorer.score([{ role: "user", content: prompt }]);
    cl.push(performance.now() - t);
  }
  cl.sort((a, b) => a - b);

  clients.close();
  tlsClients?.close();
  clientTls?.provider.stop();
  agent.destroy();
  stop();
  await new Promise((r) => setTimeout(r, 300));

  // The edge's own time per request, from its events: total - backend (sidecar call).
  const own: number[] = [];
  const back: number[] = [];
  for (const line of readFileSync(eventsPath, "utf8").split("\n")) {
    if (!line.includes('"seq-')) continue;
    const e = JSON.parse(line) as { latency: { total: number; backend: number | null } };
    if (e.latency.backend !== null) {
      own.push(e.latency.total - e.latency.backend);
      back.push(e.latency.backend);
    }
  }
  own.sort((a, b) => a - b);
  back.sort((a, b) => a - b);

  const r = {
    prompt,
    route,
    requests_per_side: N,
    one_client: {
      direct: { p50: pct(d1, 50), p99: pct(d1, 99), p50_to_finish_chunk: pct(dFinish, 50) },
      edge: { p50: pct(e1, 50), p99: pct(e1, 99) },
      added: { p50: pct(e1, 50) - pct(d1, 50), p99: pct(e1, 99) - pct(d1, 99) },
    },
    bare_http_hop_ms: { p50: pct(hop, 50), p99: pct(hop, 99), n: hop.length },
    added_beyond_bare_hop_p50: pct(e1, 50) - pct(d1, 50) - pct(hop, 50),
    concurrent: { clients: C, seconds: D / 1000, direct: dl, edge: el },
    classifier_ms: { p50: pct(cl, 50), p99: pct(cl, 99), source: scorer.source },
    edge_internal_ms: own.length ? { p50: pct(own, 50), p99: pct(own, 99), n: own.length } : null,
    edge_sidecar_call_ms: back.length ? { p50: pct(back, 50), p99: pct(back, 99) } : null,
    mutual_tls: secure
      ? {
          direct: { p50: pct(d1t, 50), p99: pct(d1t, 99) },
          edge: { p50: pct(e1t, 50), p99: pct(e1t, 99) },
          added_vs_plaintext: {
            direct_p50: pct(d1t, 50) - pct(d1, 50),
            edge_p50: pct(e1t, 50) - pct(e1, 50),
            edge_p99: pct(e1t, 99) - pct(e1, 99),
          },
          new_connection_ms: { plaintext_p50: pct(connectPlain, 50), tls_p50: pct(connectTls, 50), n: connectTls.length },
        }
      : null,
  };
  const f = (x: number) => x.toFixed(2).padStart(9);
  const lines = [
    `bench:edge: ${N} sequential 1-token requests per side (alternating), then ${C} concurrent clients for ${D / 1000} s per side`,
    `prompt ${JSON.stringify(prompt)} (route via edge: ${route}); model ${dir}; load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`,
    "",
    "                          direct gRPC   via edge      added",
    `1 client   p50 ms         ${f(r.one_client.direct.p50)}  ${f(r.one_client.edge.p50)}  ${f(r.one_client.added.p50)}   (goal < 2 ms: ${r.one_client.added.p50 < 2 ? "met" : "NOT met"})`,
    `1 client   p99 ms         ${f(r.one_client.direct.p99)}  ${f(r.one_client.edge.p99)}  ${f(r.one_client.added.p99)}   (goal < 10 ms: ${r.one_client.added.p99 < 10 ? "met" : "NOT met"})`,
    `${String(C).padEnd(2)} clients  requests/s    ${f(dl.rps)}  ${f(el.rps)}`,
    `${String(C).padEnd(2)} clients  p50 ms        ${f(dl.p50)}  ${f(el.p50)}  ${f(el.p50 - dl.p50)}`,
    `${String(C).padEnd(2)} clients  p99 ms        ${f(dl.p99)}  ${f(el.p99)}  ${f(el.p99 - dl.p99)}`,
    `bare HTTP hop (same client and request to a bare Deno.serve, each right after a direct call): p50 ${r.bare_http_hop_ms.p50.toFixed(2)} ms, p99 ${r.bare_http_hop_ms.p99.toFixed(2)} ms; added beyond it, p50 ${r.added_beyond_bare_hop_p50.toFixed(2)} ms`,
    `direct calls have their finish chunk at p50 ${r.one_client.direct.p50_to_finish_chunk.toFixed(2)} ms and end (gRPC status) at ${r.one_client.direct.p50.toFixed(2)} ms; the edge answers on the finish chunk, so measured to it the edge adds p50 ${(r.one_client.edge.p50 - r.one_client.direct.p50_to_finish_chunk).toFixed(2)} ms`,
    "",
    r.edge_internal_ms
      ? `edge's own time (events: Hono middleware entry to answer, minus the sidecar call), 1 client: p50 ${r.edge_internal_ms.p50.toFixed(3)} ms, p99 ${r.edge_internal_ms.p99.toFixed(3)} ms`
      : "edge events unavailable",
    r.edge_sidecar_call_ms
      ? `the edge's gRPC call to the sidecar (Deno grpc-js, from its events), 1 client: p50 ${r.edge_sidecar_call_ms.p50.toFixed(2)} ms, p99 ${r.edge_sidecar_call_ms.p99.toFixed(2)} ms (direct from Node: p50 ${r.one_client.direct.p50.toFixed(2)} ms)`
      : "",
    `classifier alone (Node, same prompt): p50 ${r.classifier_ms.p50.toFixed(3)} ms, p99 ${r.classifier_ms.p99.toFixed(3)} ms (${r.classifier_ms.source})`,
    ...tlsLines(r.mutual_tls, r.one_client),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  if (values.json) process.stdout.write(JSON.stringify(r, null, 2) + "\n");
  await new Promise((r) => setTimeout(r, 200));
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`bench:edge: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
