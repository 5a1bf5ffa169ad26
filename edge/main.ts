/**
 * The edge process under Deno: `npm run edge -- [--help]`, which runs
 * `deno run` with the permissions of edge/permissions.ts (no -A). Serves the
 * Hono app with Deno.serve.
 *
 * Environment: PORT (default 8787), HOST (default 127.0.0.1),
 * STEERGUARD_CONFIG (config file), STEERGUARD_API_KEYS (comma-separated keys),
 * STEERGUARD_SIDECARS (comma-separated sidecar addresses; overrides the config).
 * SIGINT / SIGTERM: stop accepting, let in-flight requests finish for
 * `shutdown.grace_ms`, record the ones still running, flush events, exit 0
 * (edge/shutdown/). A second signal exits at once, a fatal error with 1,
 * both still recording and flushing.
 */
import { parseArgs } from "node:util";
import { createApp } from "./app.ts";
import { EDGE_ENV } from "./permissions.ts";
import { buildEdge, loadConfig, type Env } from "./setup.ts";
import { createShutdown } from "./shutdown/index.ts";

interface DenoApi {
  args: string[];
  env: { get(name: string): string | undefined };
  readTextFile(path: string): Promise<string>;
  exit(code: number): never;
  addSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  serve(
    options: { port: number; hostname: string; onListen?: (addr: { hostname: string; port: number }) => void },
    handler: (req: Request) => Response | Promise<Response>,
  ): { shutdown(): Promise<void>; finished: Promise<void> };
}
const Deno: DenoApi = (globalThis as unknown as { Deno: DenoApi }).Deno;

const HELP = `steerguard edge: the OpenAI-compatible gateway (Hono on Deno)

Usage: npm run edge -- [options]
       (scripts/edge.ts: deno run with the permissions below; --deno-command prints it)

Options:
  --port PORT      port to listen on; 0 picks a free one (env PORT, default 8787)
  --host HOST      address to bind (env HOST, default 127.0.0.1)
  --config FILE    config file (env STEERGUARD_CONFIG; default: built-in defaults,
                   see edge/config/README.md)
  -h, --help       show this help

Environment:
  STEERGUARD_API_KEYS   comma-separated API keys (hashed at load), in addition to the config's
  STEERGUARD_SIDECARS   comma-separated sidecar addresses, overriding the config's "sidecars";
                        an ipv4:/ipv6: target keeps the bare addresses after it as its own
                        balanced list (ipv4:10.0.0.1:50051,10.0.0.2:50051); ";" ends such a list
  STEERGUARD_STEERING_PROFILE  steering profile of steered routes, overriding the config's
                        steering.profile ("" = send no steering field)
  STEERGUARD_SIDECAR_TLS_CA, STEERGUARD_SIDECAR_TLS_CERT, STEERGUARD_SIDECAR_TLS_KEY,
  STEERGUARD_SIDECAR_TLS_SERVER_NAME
                        mutual TLS to the sidecars: PEM files (re-read when they change) and the
                        name expected in the sidecars' certificates, overriding sidecar.tls

Permissions (edge/permissions.ts; no -A): --allow-net; --allow-read of the config
file, the classifier artifact and the sidecar TLS files; --allow-write of the directory of events.path
(none without an events file); --allow-env of the variables above, PORT, HOST and
those grpc-js reads (GRPC_*, *_proxy); nothing else, and --no-prompt.

Prints "edge listening on http://HOST:PORT" when ready.
`;

async function main() {
  let values: { port?: string; host?: string; config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: { port: { type: "string" }, host: { type: "string" }, config: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (err) {
    console.error(`edge: ${(err as Error).message}\n\n${HELP}`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(HELP);
    return;
  }
  // Only the listed names: Deno grants env access per name (edge/permissions.ts).
  const env: Env = {};
  for (const name of EDGE_ENV) env[name] = Deno.env.get(name);
  if (values.config) env.STEERGUARD_CONFIG = values.config;
  const portText = values.port ?? env.PORT ?? "8787";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`edge: PORT must be an integer from 0 to 65535, got "${portText}"`);
    Deno.exit(2);
  }
  const hostname = values.host ?? env.HOST ?? "127.0.0.1";

  const log = (line: string) => console.error(line);
  let edge: Awaited<ReturnType<typeof buildEdge>>;
  try {
    const config = await loadConfig(env, (p) => Deno.readTextFile(p));
    edge = await buildEdge(config, env, log);
  } catch (err) {
    console.error(`edge: ${(err as Error).message}`);
    Deno.exit(2);
  }
  const app = createApp(edge.config, edge.deps);
  const server = Deno.serve(
    {
      port,
      hostname,
      onListen: (addr) => console.log(`edge listening on http://${addr.hostname}:${addr.port}`),
    },
    app.fetch,
  );

  const shutdown = createShutdown({
    drain: () => server.shutdown(),
    inflight: edge.deps.inflight,
    close: () => edge.close(),
    exit: (code) => Deno.exit(code),
    log,
    graceMs: edge.config.shutdown.grace_ms,
  });
  Deno.addSignalListener("SIGINT", () => shutdown.stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => shutdown.stop("SIGTERM"));
  // Uncaught errors would end the process without the events of the requests in flight.
  const fatal = (e: Event & { error?: unknown; reason?: unknown }) => {
    e.preventDefault();
    shutdown.fail(e.error ?? e.reason);
  };
  const target = globalThis as unknown as { addEventListener(type: "error" | "unhandledrejection", fn: typeof fatal): void };
  target.addEventListener("error", fatal);
  target.addEventListener("unhandledrejection", fatal);
}

await main();
