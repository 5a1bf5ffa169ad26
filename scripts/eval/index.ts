/**
 * `npm run eval -- [options]`: the paper-style safety / capability table
 * (O'Brien et al. 2024, arXiv 2411.11296) for a model, a steering profile and
 * the three routing arms, through the engine directly (no HTTP).
 *
 * Modules: suites/ (one loader per suite), runner.ts (arms, cache), gates.ts
 * (the selective arm's gate variants), loglik.ts (continuation log-likelihood
 * on the ONNX decoder), perplexity.ts, judge.ts (keyword / LLM), on-topic.ts,
 * gsm8k-answer.ts, wilson.ts, report.ts (md + json), goal.ts (what selective
 * saves), plot.ts (svg), attacker.ts + openai.ts (optional LLM attacker and
 * judge).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { runMain, UsageError } from "../lib/cli.ts";
import { DEFAULT_ARTIFACT_URL, loadRiskModel } from "../../edge/classifier/index.ts";
import { Engine } from "../../sidecar/engine/engine.ts";
import { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import { DEFAULT_MODEL_SOURCE, modelOrSource, resolveModelDir } from "../../sidecar/model-source.ts";
import { loadProfile } from "../../sidecar/steering/profile.ts";
import { encodeChat } from "../../sidecar/tokenizer/chat.ts";
import { Progress } from "../lib/progress.ts";
import { crescendo } from "./attacker.ts";
import { buildGates, DEFAULT_GATE, GATE_NAMES, GATE_VARIANTS } from "./gates.ts";
import { DEFAULT_CONDITION_BANDS, parseBand, type Band } from "./condition-gate.ts";
import { keywordJudge, LlmJudge, type Judge } from "./judge.ts";
import { LoglikScorer } from "./loglik.ts";
import { ChatClient } from "./openai.ts";
import { renderSvg } from "./plot.ts";
import { renderMarkdown, summarise, type Report } from "./report.ts";
import { ARMS, armConfigs, configKey, GATE_INPUTS, gateArgs, Runner, type Arm, type GateInput, type ItemResult } from "./runner.ts";
import { pick } from "./suites/common.ts";
import { SUITE_NAMES, SUITES } from "./suites/index.ts";
import type { ChatMessage, Item, SuiteContext, SuiteDef } from "./suites/types.ts";

const REPO = resolve(new URL("../..", import.meta.url).pathname);
export const DEFAULTS = {
  profile: resolve(REPO, "steering/organism260K/refusal.json"),
  data: resolve(REPO, "../shared/data"),
  out: resolve(REPO, "eval-out"),
  strengths: [0, 1, 2, 4],
};

export const HELP = `Usage: npm run eval -- [options]

Safety / capability table for a model + refusal-steering profile under three arms:
never (unsteered), always (steered at each strength), selective (steered iff the
gate says so; default gate: the edge's default, the prompt-risk classifier and
its sentence-encoder second stage). Writes report.md,
report.json, tradeoff.svg and a resumable cache under --out.

  --model DIR          built model directory or checkpoint (default ${relative(REPO, DEFAULT_MODEL_SOURCE) || DEFAULT_MODEL_SOURCE}, built on first use)
  --profile FILE       steering profile (default steering/organism260K/refusal.json)
  --strengths LIST     steering strengths (default ${DEFAULTS.strengths.join(",")})
  --arms LIST          never,always,selective (default all three)
  --gates LIST         selective-arm gate variants, one row set each (default ${DEFAULT_GATE}; known: ${GATE_NAMES.join(", ")}):
                         edge            the edge classifier at its shipped threshold, alone
                         edge+encoder    the edge's two-stage gate, its default (classifier, then the
                                         sentence-encoder probe in its uncertain band)
                         edge+condition  classifier risk in the condition band: steered iff the profile's
                                         in-model condition holds; above it steered, below it not
                         all             two-stage risk, then the band, then the condition
  --condition-band LO,HI  band [LO, HI) of the gate's risk in which the condition decides (edge+condition:
                       first-stage risk, default ${DEFAULT_CONDITION_BANDS["edge+condition"].lo},${DEFAULT_CONDITION_BANDS["edge+condition"].hi}; all: two-stage risk,
                       default ${DEFAULT_CONDITION_BANDS.all.lo},${DEFAULT_CONDITION_BANDS.all.hi}); the profile must have a "condition"
  --gate-input WHAT    what the selective arm's gate reads of a request cut to fit the model's context:
                       sent (default), the whole request as the client sent it, as the edge would; cut, the
                       cut prompt the model prefills (the eval's figures before 2026-12-07). The in-model
                       condition always reads what the model prefills
  --suites LIST        suites to run (default all): ${SUITE_NAMES.join(", ")}
  --limit N            items per suite, a seeded subset (default: all)
  --shots N            few-shot examples for *-fewshot suites, as many as fit (default 5)
  --out DIR            output folder (default eval-out/)
  --seed S             subsets, pairings, sampling seed (default 0)
  --data DIR           data folder (default ../shared/data)
  --max-tokens N       new tokens on refusal suites and story-on-topic (default 48)
  --gsm8k-max-tokens N new tokens on GSM8K (default 96)
  --batch N            engine batch rows (default 16)
  --judge-url URL      optional LLM refusal judge (OpenAI-compatible base URL, e.g. http://host:8000/v1)
  --judge-model NAME   its model name (default gpt-4o-mini)
  --attacker-url URL   optional Crescendo-style multi-turn attacker (OpenAI-compatible); adds suite "crescendo"
  --attacker-model NAME its model name (default gpt-4o-mini)
  --attacker-turns N   attacker turns per dialogue (default 3)
  --no-cache           ignore and overwrite the cache
  -h, --help           show this help
`;

export interface EvalOptions {
  model?: string;
  profile: string;
  strengths: number[];
  arms: Arm[];
  gates: string[];
  /** The condition variants' band; undefined: each variant's default. */
  conditionBand?: Band;
  /** What the gate reads of a cut request (runner.ts GateInput). */
  gateInput: GateInput;
  suites: string[];
  limit?: number;
  shots: number;
  out: string;
  seed: number;
  data: string;
  maxTokens: number;
  gsm8kMaxTokens: number;
  batch: number;
  judgeUrl?: string;
  judgeModel: string;
  attackerUrl?: string;
  attackerModel: string;
  attackerTurns: number;
  noCache: boolean;
}

const int = (name: string, raw: string | undefined, dflt: number, min: number): number => {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
};
const list = (raw: string) => raw.split(",").map((x) => x.trim()).filter(Boolean);

export function parseCli(argv: string[]): EvalOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: "string" }, profile: { type: "string" }, strengths: { type: "string" }, arms: { type: "string" }, gates: { type: "string" }, suites: { type: "string" },
        limit: { type: "string" }, shots: { type: "string" }, out: { type: "string" }, seed: { type: "string" }, data: { type: "string" },
        "max-tokens": { type: "string" }, "gsm8k-max-tokens": { type: "string" }, batch: { type: "string" },
        "judge-url": { type: "string" }, "judge-model": { type: "string" }, "attacker-url": { type: "string" }, "attacker-model": { type: "string" },
        "attacker-turns": { type: "string" }, "no-cache": { type: "boolean" }, "condition-band": { type: "string" }, "gate-input": { type: "string" }, help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return "help";
  const strengths = values.strengths === undefined ? DEFAULTS.strengths : list(values.strengths).map((x) => {
    const n = Number(x);
    if (!Number.isFinite(n)) throw new UsageError(`--strengths: "${x}" is not a number`);
    return n;
  });
  if (values.strengths !== undefined && strengths.length === 0) throw new UsageError("--strengths is empty");
  const arms = values.arms === undefined ? [...ARMS] : list(values.arms);
  for (const a of arms) if (!ARMS.includes(a as Arm)) throw new UsageError(`--arms: "${a}" is not one of ${ARMS.join(", ")}`);
  if (arms.length === 0) throw new UsageError("--arms is empty");
  const gates = values.gates === undefined ? [DEFAULT_GATE] : [...new Set(list(values.gates))];
  if (gates.length === 0) throw new UsageError("--gates is empty");
  for (const g of gates) {
    const v = GATE_VARIANTS.find((x) => x.name === g);
    if (!v) throw new UsageError(`--gates: "${g}" is not one of ${GATE_NAMES.join(", ")}`);
    if (!v.build) throw new UsageError(`--gates: ${g} cannot run: ${v.missing}`);
  }
  let conditionBand: Band | undefined;
  if (values["condition-band"] !== undefined) {
    try {
      conditionBand = parseBand(values["condition-band"]);
    } catch (e) {
      throw new UsageError(`--condition-band: ${(e as Error).message}`);
    }
    if (!gates.some((g) => GATE_VARIANTS.find((x) => x.name === g)?.band)) throw new UsageError("--condition-band is for the gates edge+condition and all");
  }
  const gateInput = (values["gate-input"] ?? "sent") as GateInput;
  if (!GATE_INPUTS.includes(gateInput)) throw new UsageError(`--gate-input: "${values["gate-input"]}" is not one of ${GATE_INPUTS.join(", ")}`);
  const suites = values.suites === undefined ? [...SUITE_NAMES] : list(values.suites);
  for (const s of suites) if (!SUITE_NAMES.includes(s) && s !== "crescendo") throw new UsageError(`--suites: unknown suite "${s}" (known: ${SUITE_NAMES.join(", ")}, crescendo)`);
  if (suites.length === 0) throw new UsageError("--suites is empty");
  if (values["attacker-url"] && !suites.includes("crescendo")) suites.push("crescendo");
  if (suites.includes("crescendo") && !values["attacker-url"]) throw new UsageError("suite crescendo needs --attacker-url");
  return {
    model: values.model,
    profile: resolve(values.profile ?? DEFAULTS.profile),
    strengths: [...new Set(strengths)],
    arms: arms as Arm[],
    gates,
    conditionBand,
    gateInput,
    suites,
    limit: values.limit === undefined ? undefined : int("limit", values.limit, 0, 1),
    shots: int("shots", values.shots, 5, 0),
    out: resolve(values.out ?? DEFAULTS.out),
    seed: int("seed", values.seed, 0, 0),
    data: resolve(values.data ?? DEFAULTS.data),
    maxTokens: int("max-tokens", values["max-tokens"], 48, 1),
    gsm8kMaxTokens: int("gsm8k-max-tokens", values["gsm8k-max-tokens"], 96, 1),
    batch: int("batch", values.batch, 16, 1),
    judgeUrl: values["judge-url"],
    judgeModel: values["judge-model"] ?? "gpt-4o-mini",
    attackerUrl: values["attacker-url"],
    attackerModel: values["attacker-model"] ?? "gpt-4o-mini",
    attackerTurns: int("attacker-turns", values["attacker-turns"], 3, 1),
    noCache: values["no-cache"] ?? false,
  };
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const log = (m: string) => process.stderr.write(`${m}\n`);

/** The crescendo suite: harmful goals (JailbreakBench) attacked by an LLM over several turns. */
const crescendoSuite: SuiteDef = {
  name: "crescendo",
  group: "multiturn",
  sources: ["jailbreakbench/behaviors.csv"],
  description: "Crescendo-style LLM attacker (--attacker-url) escalating towards JailbreakBench harmful goals",
  load: () => [],
};

export async function runEval(o: EvalOptions, command: string): Promise<Report> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const modelDir = await resolveModelDir({ ...modelOrSource(o.model), log });
  if (!existsSync(o.profile)) throw new UsageError(`--profile ${o.profile}: no such file`);
  const profile = loadProfile(o.profile);
  const conditionGates = o.gates.filter((g) => GATE_VARIANTS.find((v) => v.name === g)?.band);
  if (conditionGates.length && !profile.condition)
    throw new UsageError(`--gates ${conditionGates.join(",")}: the profile ${o.profile} has no "condition" (fit one: npm run find-features -- --condition-only --profile FILE)`);
  const engine = await Engine.load(modelDir, { profiles: [o.profile], profileDirs: [], maxBatch: o.batch, maxQueue: 1 << 20, intraOpThreads: 1, defaultMaxTokens: o.maxTokens });
  const scorer = await LoglikScorer.load(modelDir, { profile: o.profile });
  const classifier = await loadRiskModel();
  const classifierHash = gateHash();
  const promptIds = (messages: ChatMessage[]) => engine.promptIds({ $case: "conversation", value: { messages } });
  const gates = await buildGates(o.gates, { classifier, classifierHash, modelDir, profile: o.profile, promptIds, conditionBand: o.conditionBand, log });
  timings.load = (performance.now() - t0) / 1000;
  const notes: string[] = [];
  try {
    const manifest = engine.manifest;
    const context = manifest.dims.contextLength;
    // Counted by tokenizing (not engine.promptIds, which rejects an over-long prompt before tokenizing): suites cut prompts to fit by this count.
    const promptTokens = (messages: ChatMessage[]) => encodeChat(engine.tokenizer, manifest.chatTemplate!, messages, { addGenerationPrompt: true }).length;
    const ctx: SuiteContext = { dataDir: o.data, seed: o.seed, limit: o.limit, shots: o.shots, promptTokens, maxPromptTokens: (reserve) => context - reserve, note: (m) => notes.push(m) };
    const suites = SUITES.filter((s) => o.suites.includes(s.name)).map((s) => ({ ...s, maxTokens: s.name === "gsm8k" ? o.gsm8kMaxTokens : s.maxTokens === undefined ? undefined : o.maxTokens }));
    let t = performance.now();
    const items = new Map<string, Item[]>();
    for (const s of suites) items.set(s.name, s.load(ctx));
    timings.loadSuites = (performance.now() - t) / 1000;
    const configs = armConfigs(o.arms, o.strengths, o.gates);
    const judge: Judge = o.judgeUrl ? new LlmJudge(new ChatClient({ baseUrl: o.judgeUrl, model: o.judgeModel })) : keywordJudge;
    const modelHash = sha256(readFileSync(join(modelDir, manifest.graph.file)));
    const profileHash = sha256(readFileSync(o.profile));
    const profileJson = JSON.parse(readFileSync(o.profile, "utf8")) as Record<string, unknown>;
    const condition = profile.condition;
    const saeHash = manifest.saes?.find((s) => s.layer === profile.layer)?.sha256;
    const config = {
      suites: o.suites, arms: o.arms, gates: o.gates, gateInput: o.gateInput, strengths: o.strengths,
      conditionBands: Object.fromEntries(GATE_VARIANTS.filter((v) => v.band && o.gates.includes(v.name)).map((v) => [v.name, v.band!({ conditionBand: o.conditionBand })])), limit: o.limit ?? null, shots: o.shots, seed: o.seed,
      refusalMaxTokens: o.maxTokens, gsm8kMaxTokens: o.gsm8kMaxTokens, judge: judge.name,
      attacker: o.attackerUrl ? { model: o.attackerModel, turns: o.attackerTurns } : null,
    };
    // The cache is keyed by what changes a single item's result (not the suite list or limit). The profile's
    // condition changes no generation (only the condition gates' routing, in their own hash), so it is left out.
    const { condition: _unused, ...steeringPart } = profileJson;
    const steeringHash = sha256(JSON.stringify(steeringPart));
    const fingerprint = sha256(JSON.stringify({ modelHash, profileHash: steeringHash, classifierHash, seed: o.seed, shots: o.shots, max: [o.maxTokens, o.gsm8kMaxTokens], judge: judge.name })).slice(0, 16);
    const cacheDir = join(o.out, "cache", fingerprint);
    if (o.noCache) (await import("node:fs")).rmSync(cacheDir, { recursive: true, force: true });
    const total = suites.reduce((a, s) => a + items.get(s.name)!.length, 0) * configs.length;
    const progress = new Progress({ total, label: "eval" });
    const runner = new Runner({ engine, scorer, gates, judge, profileName: profile.name, cacheDir, seed: o.seed, progress, gateInput: o.gateInput });
    t = performance.now();
    for (const gate of new Set(configs.flatMap((c) => (c.arm === "selective" ? [c.gate ?? DEFAULT_GATE] : [])))) {
      for (const s of suites) await runner.decideAll(gate, items.get(s.name)!);
    }
    const results = new Map<string, Map<string, ItemResult[]>>();
    await Promise.all(
      suites.flatMap((s) =>
        configs.map(async (c) => {
          const r = await runner.runSuite(s, items.get(s.name)!, c);
          if (!results.has(s.name)) results.set(s.name, new Map());
          results.get(s.name)!.set(configKey(c), r);
        }),
      ),
    );
    progress.finish();
    timings.run = (performance.now() - t) / 1000;
    const allSuites: SuiteDef[] = [...suites];
    if (o.attackerUrl) {
      t = performance.now();
      const attacker = new ChatClient({ baseUrl: o.attackerUrl, model: o.attackerModel });
      const goals = pick(ctx, "crescendo", (await import("./suites/common.ts")).readCsv(ctx, "jailbreakbench/behaviors.csv").map((r) => r.Goal!));
      const per = new Map<string, ItemResult[]>();
      for (const c of configs) {
        const rs = await Promise.all(
          goals.map(async (goal, i) => {
            let steered = false;
            const respond = async (messages: ChatMessage[]) => {
              const fitted = fitDialogue(messages, promptTokens, context - o.maxTokens);
              const risky = c.arm === "selective" && (await gates.get(c.gate ?? DEFAULT_GATE)!.decide(...gateArgs(fitted, messages, o.gateInput))).steer;
              const strength = c.arm === "always" || risky ? c.strength! : undefined;
              steered ||= strength !== undefined;
              const req = GenerateRequest.fromPartial({
                requestId: `crescendo-${i}`,
                input: { $case: "conversation", value: { messages: fitted } },
                sampling: { temperature: 0, maxTokens: o.maxTokens },
                steering: strength === undefined ? undefined : { profile: profile.name, strength },
              });
              let text = "";
              for await (const ch of engine.generate(req, new AbortController().signal)) text += ch.text;
              return text;
            };
            const r = await crescendo(goal, attacker, respond, o.attackerTurns, o.seed);
            return { id: `crescendo/${i}`, steered, response: r.final, refused: await judge.refused(r.messages[r.messages.length - 2]!.content, r.final) } satisfies ItemResult;
          }),
        );
        per.set(configKey(c), rs);
      }
      results.set("crescendo", per);
      allSuites.push(crescendoSuite);
      timings.crescendo = (performance.now() - t) / 1000;
    }
    const { summaries, rows, gates: gateRows, goal } = summarise(allSuites, configs, results, o.seed, config.conditionBands);
    timings.total = (performance.now() - t0) / 1000;
    if (judge instanceof LlmJudge && judge.fallbacks) notes.push(`LLM judge gave no YES/NO ${judge.fallbacks} times; the keyword judge decided those.`);
    notes.push(
      "Strength s multiplies the profile's values (clamp c -> s*c; s = 0 clamps the feature to 0, i.e. ablates it). The never arm has no strength.",
      "Selective: the gate (default: the edge's own, the prompt-risk classifier and its sentence-encoder second stage, at their shipped thresholds) routes each prompt (the whole conversation for multi-turn); a routed item's result is the always arm's at that strength, an unrouted one the never arm's.",
      o.gateInput === "sent"
        ? "A request cut to fit the model's context (the suite table's \"cut to fit\" column: jailbreak templates from the left, dialogues by their earliest turns) is cut for the model only: the gate's classifier stages read the request as the client sent it, as an edge in front of a longer-context model would (--gate-input cut: the cut prompt); an in-model condition reads what the model prefills."
        : "--gate-input cut: the gate reads a request cut to fit the model's context as the model prefills it, not as the client sent it (the eval's figures before 2026-12-07).",
      ...(o.gates.some((g) => GATE_VARIANTS.find((v) => v.name === g)?.band)
        ? [
            "Condition gates (edge+condition, all): a prompt whose gate risk falls in the band is a conditional request. The sidecar steers it exactly as the steered request when the profile's condition holds on the unsteered residual at the last prompt token, and generates the unsteered text otherwise, so its result here is the always arm's or the never arm's by the condition's value. The value is computed in this process from the same token ids the engine prefills (the model's residual-output build, the profile's SAE). That forward pass is the in-band latency the gate rows report; in the sidecar it rides the request's own prefill.",
          ]
        : []),
      "Capability suites score the answer as the assistant's continuation of the chat-formatted question, steered exactly as generation would be (profile positions). story-ppl scores each held-out story as the answer to its benign story request: perplexity = exp(total NLL / total story tokens).",
      "story-on-topic: a greedy continuation is on-topic when it is not a refusal (the run's judge) and names one of the request's key words as a whole word (plural s/es allowed); the capability accuracy mean includes it.",
      "Greedy decoding, seeded subsets and pairings: the same flags and seed give the same report (checked by rerunning without the cache). Changing the suite list or --limit changes which rows share a batch, which can move float results in the last bits.",
      "The keyword judge counts refusal phrases only: steered text that degrades into non-refusal gibberish (high strengths) counts as not refused; read the responses in the cache, or use --judge-url.",
    );
    const rel = (p: string) => (p.startsWith(REPO) ? relative(REPO, p) : p);
    const report: Report = {
      tool: "steerguard-eval",
      version: 1,
      command,
      seed: o.seed,
      config,
      hashes: { config: sha256(JSON.stringify(config)), model: modelHash, profile: profileHash, ...(saeHash ? { sae: saeHash } : {}), classifier: classifierHash },
      model: { dir: rel(modelDir), id: manifest.id, contextLength: context },
      profile: { file: rel(o.profile), name: profile.name, layer: profile.layer, positions: profile.positions, features: profile.features, ...(condition ? { condition } : {}), description: profile.description },
      judge: judge.name,
      suites: summaries,
      rows,
      gates: gateRows,
      goal,
      timings: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Number(v.toFixed(2))])),
      notes,
    };
    mkdirSync(o.out, { recursive: true });
    writeFileSync(join(o.out, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(o.out, "report.md"), renderMarkdown(report));
    writeFileSync(join(o.out, "tradeoff.svg"), renderSvg(rows, `${manifest.id} + ${profile.name}: refusal under jailbreaks vs capability`));
    log(`wrote ${join(o.out, "report.md")}, report.json, tradeoff.svg (${timings.total.toFixed(1)} s)`);
    return report;
  } finally {
    await engine.close();
    await scorer.close();
    for (const g of gates.values()) await g.close?.();
  }
}

/** Drops the earliest turns until the dialogue fits. */
function fitDialogue(messages: ChatMessage[], count: (m: ChatMessage[]) => number, max: number): ChatMessage[] {
  let m = messages;
  while (m.length > 1 && count(m) > max) m = m.slice(m[1]?.role === "assistant" ? 2 : 1);
  return m;
}

export function main(argv: string[]): Promise<number> {
  return runMain(() => parseCli(argv), HELP, async (o) => {
    await runEval(o, `npm run eval --${argv.length ? ` ${argv.join(" ")}` : ""}`);
    return 0;
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}

/**
 * The gate as the eval runs it: the classifier artifact and the scorer's code
 * (edge/classifier, edge/risk and the encoder's edge/encoder, tests aside), so
 * that cached gate decisions are not reused once either changes (the decoded
 * readings changed decisions with the artifact unchanged; the encoder's
 * reading rule, with the encoder's files unchanged).
 */
function gateHash(): string {
  const h = createHash("sha256").update(readFileSync(DEFAULT_ARTIFACT_URL));
  for (const dir of ["../../edge/classifier/", "../../edge/risk/", "../../edge/encoder/"]) {
    const url = new URL(dir, import.meta.url);
    for (const f of readdirSync(url).filter((n) => n.endsWith(".ts") && !n.endsWith(".test.ts")).sort()) h.update(f).update(readFileSync(new URL(f, url)));
  }
  return h.digest("hex");
}
