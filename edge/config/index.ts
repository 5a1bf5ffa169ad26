/**
 * The edge's configuration file (JSON), validated with valibot. Every field
 * has a default, so `{}` is a valid config; see example.json and README.md in
 * this folder for what each field means.
 */
import * as v from "valibot";

const Probability = v.pipe(v.number(), v.minValue(0), v.maxValue(1));
const PositiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));
const NonNegInt = v.pipe(v.number(), v.integer(), v.minValue(0));
const Finite = v.pipe(v.number(), v.finite());

/**
 * The condition band of a selective arm: risks in [low, high) take the
 * "conditional" route (the sidecar steers only if the model's own condition
 * holds), risks >= high are steered, risks < low unsteered. With a band,
 * `high` is the arm's steering threshold. `{"low": L, "high": H}` or `[L, H]`.
 */
const BandSchema = v.pipe(
  v.union(
    [
      v.strictObject({ low: Probability, high: Probability }),
      v.pipe(
        v.strictTuple([Probability, Probability]),
        v.transform(([low, high]) => ({ low, high })),
      ),
    ],
    'must be {"low": L, "high": H} or [L, H] with 0 <= L < H <= 1',
  ),
  v.check((b) => b.low < b.high, "low must be below high"),
);

/** A steering request: the sidecar profile to amplify and its strength. */
const SteeringSchema = v.object({
  /**
   * Name of a profile the sidecar has loaded. "" means "steered" routes are
   * sent without a steering field (useful until the sidecar has profiles).
   */
  profile: v.optional(v.string(), ""),
  strength: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(100)), 1),
  /**
   * Conditional route only: overrides the profile's condition threshold
   * (SteeringRequest.condition_threshold). Absent: the profile's own.
   */
  condition_threshold: v.optional(Finite),
});

const PolicySchema = v.picklist(["never", "always", "selective"]);

const ArmSchema = v.object({
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, "arm names are 1-64 characters of A-Z a-z 0-9 _ . -")),
  policy: PolicySchema,
  /** Relative weight (need not sum to 1). */
  weight: v.optional(v.pipe(v.number(), v.minValue(0)), 1),
  /** selective only: steer when risk >= threshold (default: classifier.threshold). */
  threshold: v.optional(Probability),
  /** Overrides of the top-level steering profile and strength. */
  profile: v.optional(v.string()),
  strength: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(100))),
  /** Answer with a refusal, without generating, when risk >= block_threshold. */
  block_threshold: v.optional(Probability),
  /**
   * selective only: risks in [low, high) go to the sidecar with conditional
   * steering; `high` is then the steering threshold (so `threshold` may not be
   * set with a band). Absent: classifier.condition_band; null: no band.
   */
  condition_band: v.optional(v.nullable(BandSchema)),
  /** Overrides steering.condition_threshold on this arm's conditional route. */
  condition_threshold: v.optional(Finite),
});

const ExperimentSchema = v.pipe(
  v.object({
    name: v.pipe(v.string(), v.minLength(1)),
    /** Mixed into the assignment hash; change it to reshuffle users. Default: the name. */
    salt: v.optional(v.string()),
    /** Models this experiment applies to; absent = every model. */
    models: v.optional(v.array(v.string())),
    arms: v.pipe(v.array(ArmSchema), v.minLength(1)),
  }),
  v.check((e) => e.arms.some((a) => a.weight > 0), "an experiment needs an arm with weight > 0"),
  v.check((e) => new Set(e.arms.map((a) => a.name)).size === e.arms.length, "arm names must be unique"),
);

const RateLimitSchema = v.object({
  /** Sustained rate per key. 0 turns the limit off. */
  requests_per_minute: v.optional(NonNegInt, 600),
  /** Bucket size: how many requests may come at once. Default: requests_per_minute / 6, at least 1. */
  burst: v.optional(PositiveInt),
});

const FilePath = v.pipe(v.string(), v.minLength(1));

/** Mutual TLS to the sidecars: PEM files, re-read when they change. */
const SidecarTlsSchema = v.object({
  /** CA bundle that signs the sidecars' certificates. */
  ca: FilePath,
  /** The edge's client certificate chain. */
  cert: FilePath,
  /** Its private key. */
  key: FilePath,
  /** Name expected in the sidecars' certificates (default: each target's host). */
  server_name: v.optional(v.pipe(v.string(), v.minLength(1))),
});

/** Hex SHA-256 of a string (`printf %s "$TEXT" | sha256sum`). */
const Sha256Hex = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/i, "sha256 must be 64 hex digits"));

const KeySchema = v.object({
  /** Appears in events and metrics instead of the key. */
  id: v.pipe(v.string(), v.minLength(1)),
  /** Hex SHA-256 of the key (`printf %s "$KEY" | sha256sum`). */
  sha256: Sha256Hex,
  /** Models this key may use; absent or ["*"] = all. */
  models: v.optional(v.array(v.string())),
  rate_limit: v.optional(RateLimitSchema),
  /**
   * The gate leaves this key's system and developer messages out of the scoring (edge/risk/trusted.ts):
   * for a backend that writes its own system prompts. Never for a key an attacker may hold.
   */
  trust_system_prompt: v.optional(v.boolean(), false),
});

export const ConfigSchema = v.object({
  /** Sidecar gRPC addresses "host:port" (or "dns:///name:port" for round robin over its records). */
  sidecars: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.minLength(1)), ["127.0.0.1:50051"]),
  sidecar: v.optional(
    v.object({
      /** Deadline of a whole Generate call, in ms. */
      deadline_ms: v.optional(PositiveInt, 60_000),
      /** Most ms to wait for the first chunk (queueing + prefill) before giving up. */
      first_chunk_timeout_ms: v.optional(PositiveInt, 15_000),
      /** How often each address's grpc.health.v1 status is checked. */
      health_interval_ms: v.optional(PositiveInt, 2_000),
      /** Deadline of a health check. */
      health_timeout_ms: v.optional(PositiveInt, 1_000),
      /**
       * The edge's admission limit: most sidecar calls in flight from this
       * edge; past it a request is shed at once with 429 and retry-after.
       * 0 = no limit (the sidecars' queues are the limit).
       */
      max_inflight: v.optional(NonNegInt, 0),
      /** Mutual TLS to every sidecar; absent = plaintext. */
      tls: v.optional(SidecarTlsSchema),
    }),
    {},
  ),
  /** Model names the edge serves; [] = whatever the sidecars report (and any name is accepted). */
  models: v.optional(v.array(v.string()), []),
  classifier: v.optional(
    v.object({
      /** Default risk threshold of selective arms. Absent: the classifier artifact's own threshold. */
      threshold: v.optional(Probability),
      /** Path of a classifier artifact; absent = the one shipped in edge/classifier. */
      artifact: v.optional(v.string()),
      /**
       * The sentence-encoder second stage (edge/risk/second-stage.ts) for risks in its uncertain band.
       * On by default: with probe 1.2.0 the gate beats the first stage alone on every goal of issue 16
       * (edge/classifier/MODEL_CARD.md) for about 7 ms at p99 and 140 MB of memory. false: the first
       * stage alone, and the edge loads no encoder (nor asks for FFI).
       */
      second_stage: v.optional(v.boolean(), true),
      /**
       * The longest an in-band prompt waits for the encoder (its calls run one at a time) before
       * the first stage decides it instead (edge/risk SECOND_STAGE_WAIT_BUDGET_MS, 15).
       */
      second_stage_wait_ms: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(60_000))),
      /**
       * Default condition band of selective arms (see the arm's condition_band).
       * Absent: off, no conditional route.
       */
      condition_band: v.optional(BandSchema),
      /**
       * Hex SHA-256s of the operator's own system prompts (exact text): a system or developer
       * message whose text hashes to one is not scored (edge/risk/trusted.ts). [] = every one is.
       */
      trusted_system_prompts: v.optional(v.array(Sha256Hex), []),
      /**
       * "unscored": assistant turns are left out of the scoring. "unserved": an assistant turn this edge
       * did not serve (among its last served_memory completions) is scored as client text
       * (edge/risk/served.ts).
       */
      assistant_turns: v.optional(v.picklist(["unscored", "unserved"]), "unscored"),
      /** How many of its most recent completions the edge remembers for assistant_turns "unserved". */
      served_memory: v.optional(PositiveInt, 100_000),
    }),
    {},
  ),
  steering: v.optional(SteeringSchema, {}),
  /** A/B experiments; the first whose `models` matches the request applies. None = one arm "default", selective. */
  experiments: v.optional(v.array(ExperimentSchema), []),
  /** An OpenAI-compatible server for unsteered traffic. */
  upstream: v.optional(
    v.object({
      /** e.g. "http://vllm:8000/v1" (the edge appends /chat/completions). */
      base_url: v.pipe(v.string(), v.url()),
      /** Sent as Authorization: Bearer. */
      api_key: v.optional(v.string()),
      /** Model name sent upstream; absent = the client's. */
      model: v.optional(v.string()),
      /** "unsteered": every unsteered request goes there; "fallback": only when the sidecar fails. */
      use: v.optional(v.picklist(["unsteered", "fallback"]), "fallback"),
      timeout_ms: v.optional(PositiveInt, 60_000),
    }),
  ),
  failure: v.optional(
    v.object({
      /** Risky requests the sidecar cannot serve: "refuse" (content_filter refusal) or "error" (503). */
      risky: v.optional(v.picklist(["refuse", "error"]), "refuse"),
      /** Seconds in the retry-after header of a 503. */
      retry_after_s: v.optional(PositiveInt, 2),
      refusal_message: v.optional(v.string(), "I'm sorry, but I can't help with that."),
    }),
    {},
  ),
  limits: v.optional(
    v.object({
      max_body_bytes: v.optional(PositiveInt, 1_048_576),
      max_messages: v.optional(PositiveInt, 256),
      /** Characters per message content. */
      max_content_chars: v.optional(PositiveInt, 100_000),
      max_tokens: v.optional(PositiveInt, 4_096),
      /** max_tokens when the request gives none. */
      default_max_tokens: v.optional(PositiveInt, 256),
      /** Most ms to receive the whole request body (from when the edge starts reading it); then 408. */
      body_timeout_ms: v.optional(PositiveInt, 10_000),
    }),
    {},
  ),
  shutdown: v.optional(
    v.object({
      /** On SIGTERM / SIGINT, how long requests in flight may take to finish before the edge exits anyway (their events are still written). */
      grace_ms: v.optional(PositiveInt, 10_000),
    }),
    {},
  ),
  auth: v.optional(
    v.object({
      keys: v.optional(v.array(KeySchema), []),
      /** Serve without any key (development only). */
      disabled: v.optional(v.boolean(), false),
    }),
    {},
  ),
  rate_limit: v.optional(RateLimitSchema, {}),
  events: v.optional(
    v.object({
      /** JSON-lines file; "-" = stdout; absent = off. */
      path: v.optional(v.string()),
      /** Put prompt and completion text into events. Off by default. */
      include_text: v.optional(v.boolean(), false),
    }),
    {},
  ),
  metrics: v.optional(
    v.object({
      /** Serve GET /metrics without an API key. */
      public: v.optional(v.boolean(), true),
    }),
    {},
  ),
});

export type Config = v.InferOutput<typeof ConfigSchema>;
export type ConfigInput = v.InferInput<typeof ConfigSchema>;
export type Arm = v.InferOutput<typeof ArmSchema>;
export type Experiment = v.InferOutput<typeof ExperimentSchema>;
export type RateLimitConfig = v.InferOutput<typeof RateLimitSchema>;
export type KeyConfig = v.InferOutput<typeof KeySchema>;
export type SidecarTlsConfig = v.InferOutput<typeof SidecarTlsSchema>;
export type ConditionBand = v.InferOutput<typeof BandSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Validates a parsed config; throws ConfigError listing every problem with its path. */
export function parseConfig(input: unknown): Config {
  const r = v.safeParse(ConfigSchema, input);
  if (!r.success) {
    const lines = r.issues.map((i) => `  ${v.getDotPath(i) ?? "(root)"}: ${i.message}`);
    throw new ConfigError(`invalid config:\n${lines.join("\n")}`);
  }
  const problems = bandProblems(r.output);
  if (problems.length > 0) throw new ConfigError(`invalid config:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  return r.output;
}

/**
 * The condition band of an arm: its own (null: none), else
 * classifier.condition_band for a selective arm; never/always arms have none.
 */
export function bandOf(config: Pick<Config, "classifier">, arm: Arm): ConditionBand | null {
  if (arm.policy !== "selective") return null;
  if (arm.condition_band !== undefined) return arm.condition_band;
  return config.classifier.condition_band ?? null;
}

/**
 * What the schema cannot see field by field: a band only on selective arms,
 * and one steering threshold per arm (with a band it is the band's high, so
 * an arm's own threshold under a band is an error rather than silently unused).
 */
function bandProblems(config: Config): string[] {
  const out: string[] = [];
  config.experiments.forEach((e, i) =>
    e.arms.forEach((arm, j) => {
      const at = `experiments.${i}.arms.${j}`;
      if (arm.policy !== "selective" && arm.condition_band) {
        out.push(`${at}.condition_band: only selective arms have a condition band (arm "${arm.name}" is "${arm.policy}")`);
        return;
      }
      const band = bandOf(config, arm);
      if (band && arm.threshold !== undefined) {
        const whose = arm.condition_band ? "its condition_band" : "classifier.condition_band";
        out.push(
          `${at}.threshold: arm "${arm.name}" has a condition band (${whose}: [${band.low}, ${band.high})) whose high is its steering threshold; ` +
            `leave threshold out (risk >= ${band.high} is steered), or set condition_band to null to route by threshold ${arm.threshold} alone`,
        );
      }
      if (!band && arm.condition_threshold !== undefined) {
        out.push(`${at}.condition_threshold: arm "${arm.name}" has no condition band, so no conditional route to use it on`);
      }
    }),
  );
  return out;
}

/** The arm used when no experiment is configured for a model (edge/routing). */
export function defaultArm(): Arm {
  return { name: "default", policy: "selective", weight: 1 };
}

/**
 * The arms requests can be routed by, each with where it is configured:
 * every experiment's, and the default arm when a model no experiment covers
 * gets it (it takes classifier.condition_band).
 */
export function routedArms(config: Pick<Config, "experiments">): { at: string; arm: Arm }[] {
  const arms = config.experiments.flatMap((e, i) => e.arms.map((arm, j) => ({ at: `experiments.${i}.arms.${j}`, arm })));
  if (!config.experiments.some((e) => !e.models || e.models.includes("*"))) arms.push({ at: "classifier.condition_band (the default arm)", arm: defaultArm() });
  return arms;
}

/**
 * After the environment's overrides: every arm with a condition band has a
 * steering profile to send (profile "" sends no steering field, and a
 * conditional request without a profile cannot be conditional). Throws ConfigError.
 */
export function checkConditionalProfiles(config: Config): void {
  const bad = routedArms(config).filter(({ arm }) => bandOf(config, arm) && (arm.profile ?? config.steering.profile) === "");
  if (bad.length === 0) return;
  throw new ConfigError(
    `${bad.map((b) => b.at).join(", ")}: a condition band needs a steering profile with a condition; ` +
      `steering.profile is "" (set it, STEERGUARD_STEERING_PROFILE, or the arm's profile)`,
  );
}

/** Parses config JSON text (comments are not allowed: JSON). */
export function parseConfigText(text: string, source = "config"): Config {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${source}: not valid JSON: ${(err as Error).message}`);
  }
  try {
    return parseConfig(json);
  } catch (err) {
    throw new ConfigError(`${source}: ${(err as Error).message}`);
  }
}

/** gRPC name-resolver schemes: a list entry that starts with one of them starts a new target. */
const TARGET_SCHEME = /^(dns|ipv4|ipv6|unix|unix-abstract|vsock|xds):/;

/**
 * Sidecar targets from a comma-separated list. grpc's ipv4:/ipv6: targets list
 * their own addresses with commas (ipv4:10.0.0.1:50051,10.0.0.2:50051 is one
 * balanced target), so a bare address right after such a target continues its
 * list; any other entry, or anything after a semicolon, is a target of its own:
 *
 *   "a:1, b:2"                         -> ["a:1", "b:2"]
 *   "ipv4:10.0.0.1:1,10.0.0.2:1; c:3"  -> ["ipv4:10.0.0.1:1,10.0.0.2:1", "c:3"]
 */
export function parseSidecarList(value: string): string[] {
  const out: string[] = [];
  for (const group of value.split(";")) {
    let open = false; // the last target is an ipv4:/ipv6: list that bare addresses extend
    for (const raw of group.split(",")) {
      const part = raw.trim();
      if (!part) continue;
      if (open && !TARGET_SCHEME.test(part)) {
        out[out.length - 1] += `,${part}`;
        continue;
      }
      out.push(part);
      open = /^ipv[46]:/.test(part);
    }
  }
  return out;
}

/**
 * Applies environment overrides: STEERGUARD_SIDECARS (comma-separated
 * targets, see parseSidecarList) replaces `sidecars`; STEERGUARD_STEERING_PROFILE replaces
 * `steering.profile`; STEERGUARD_SIDECAR_TLS_CA / _CERT / _KEY / _SERVER_NAME
 * replace those fields of `sidecar.tls` (see sidecarTlsFromEnv). API keys from
 * STEERGUARD_API_KEYS are handled by the auth module (they are raw keys, hashed at load).
 */
export function applyEnv(config: Config, env: Record<string, string | undefined>): Config {
  let out = config;
  const sidecars = env.STEERGUARD_SIDECARS === undefined ? undefined : parseSidecarList(env.STEERGUARD_SIDECARS);
  if (sidecars && sidecars.length > 0) out = { ...out, sidecars };
  const profile = env.STEERGUARD_STEERING_PROFILE;
  if (profile !== undefined) out = { ...out, steering: { ...out.steering, profile: profile.trim() } };
  const tls = sidecarTlsFromEnv(out.sidecar.tls, env);
  if (tls !== out.sidecar.tls) out = { ...out, sidecar: { ...out.sidecar, tls } };
  return out;
}

/** The environment variables of `sidecar.tls`, by field. */
export const SIDECAR_TLS_ENV = {
  ca: "STEERGUARD_SIDECAR_TLS_CA",
  cert: "STEERGUARD_SIDECAR_TLS_CERT",
  key: "STEERGUARD_SIDECAR_TLS_KEY",
  server_name: "STEERGUARD_SIDECAR_TLS_SERVER_NAME",
} as const;

/**
 * `sidecar.tls` with the environment's fields over the config's (a set,
 * non-empty variable wins). The result must name ca, cert and key together,
 * else ConfigError; unchanged (the same object) when no variable is set.
 */
export function sidecarTlsFromEnv(tls: SidecarTlsConfig | undefined, env: Record<string, string | undefined>): SidecarTlsConfig | undefined {
  const given = Object.entries(SIDECAR_TLS_ENV).filter(([, name]) => env[name]?.trim());
  if (given.length === 0) return tls;
  const merged: Partial<SidecarTlsConfig> = { ...tls };
  for (const [field, name] of given) merged[field as keyof SidecarTlsConfig] = env[name]!.trim();
  const missing = (["ca", "cert", "key"] as const).filter((f) => !merged[f]);
  if (missing.length > 0) {
    throw new ConfigError(`sidecar TLS: ${missing.map((f) => `${SIDECAR_TLS_ENV[f]} (sidecar.tls.${f})`).join(", ")} missing: ca, cert and key go together`);
  }
  return merged as SidecarTlsConfig;
}

/** The experiment that applies to `model`, or undefined. */
export function experimentFor(config: Config, model: string): Experiment | undefined {
  return config.experiments.find((e) => !e.models || e.models.includes(model) || e.models.includes("*"));
}
