/**
 * Runs suites x arms x strengths against the engine (greedy generation) and the
 * log-likelihood scorer, with a resumable cache.
 *
 * Arms: never (unsteered, one row), always (steered at strength s), selective
 * (steered at s iff its gate says so; one set of rows per gate variant, see
 * gates.ts; the default gate is the prompt-risk classifier at its shipped
 * threshold). A selective item's response is, by construction, the never or
 * the always response for the same prompt, so each distinct (prompt,
 * steering) is generated or scored once per run and shared.
 *
 * Cache: <out>/cache/<fingerprint>/<suite>/<arm>@<strength>.jsonl, one line per
 * item, appended as each finishes; the fingerprint hashes everything that
 * changes results (model, profile, judge, token limits, seed), so an
 * interrupted run continues where it stopped and a changed config starts
 * afresh.
 */
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { GenerateRequest } from "../../proto/gen/steerguard/v1/sidecar.ts";
import type { Engine } from "../../sidecar/engine/engine.ts";
import { renderChat } from "../../sidecar/tokenizer/chat.ts";
import { DEFAULT_GATE, type Gate, type GateDecision } from "./gates.ts";
import { isCorrect } from "./gsm8k-answer.ts";
import type { Judge } from "./judge.ts";
import type { LoglikScorer, ScoreResult } from "./loglik.ts";
import { isOnTopic } from "./on-topic.ts";
import type { ChatMessage, GenItem, Item, SuiteDef } from "./suites/types.ts";
import type { Progress } from "../lib/progress.ts";

export type Arm = "never" | "always" | "selective";
export const ARMS: readonly Arm[] = ["never", "always", "selective"];

export interface ArmConfig {
  arm: Arm;
  /** null for the never arm. */
  strength: number | null;
  /** Selective arm: the gate variant (gates.ts); absent = the default gate. */
  gate?: string;
}

/** "never", "always@s", "selective@s" (default gate) or "selective[gate]@s". */
export const configKey = (c: ArmConfig) =>
  c.arm === "never" ? "never" : c.arm === "selective" && c.gate && c.gate !== DEFAULT_GATE ? `selective[${c.gate}]@${c.strength}` : `${c.arm}@${c.strength}`;

/** The rows of the table: never once, always at each strength, then selective per gate variant at each strength. */
export function armConfigs(arms: readonly Arm[], strengths: readonly number[], gates: readonly string[] = [DEFAULT_GATE]): ArmConfig[] {
  const out: ArmConfig[] = [];
  if (arms.includes("never")) out.push({ arm: "never", strength: null });
  if (arms.includes("always")) for (const s of strengths) out.push({ arm: "always", strength: s });
  if (arms.includes("selective")) for (const gate of gates) for (const s of strengths) out.push({ arm: "selective", strength: s, gate });
  return out;
}

/** One item's outcome under one arm config (one cache line). */
export interface ItemResult {
  id: string;
  /** Hash of the item as asked (prompt, choices, gold): a cached line for a changed item is redone. */
  h?: string;
  /** Whether this item was steered (selective: routed). */
  steered: boolean;
  /** The gate's risk score for the prompt (selective arm only). */
  risk?: number;
  /** Milliseconds the gate took to decide this prompt (selective arm only). */
  gateMs?: number;
  /** The gate stage that decided (selective arm only): edge, encoder or condition. */
  stage?: string;
  response?: string;
  refused?: boolean;
  correct?: boolean;
  pred?: string | number;
  scores?: number[];
  shots?: number;
  truncated?: boolean;
  /** Perplexity suites: sum of the text's token log-probabilities (natural log) and its token count. */
  logprob?: number;
  tokens?: number;
  /** On-topic suites: the response names the subject and does not refuse (on-topic.ts). */
  onTopic?: boolean;
}

export interface RunnerDeps {
  engine: Engine;
  scorer: LoglikScorer;
  /** Gate variants by name (selective arm). */
  gates: ReadonlyMap<string, Gate>;
  judge: Judge;
  /** The profile name loaded into the engine. */
  profileName: string;
  cacheDir: string;
  seed: number;
  progress?: Progress;
  /**
   * What the selective arm's gate reads of a request cut to fit the model's
   * context: "sent" (default), the request as the client sent it (GenItem.sent),
   * as an edge in front of a longer-context model would; "cut", the cut prompt
   * the model prefills (how the eval gated before 2026-12-07).
   */
  gateInput?: GateInput;
}

export type GateInput = "sent" | "cut";
export const GATE_INPUTS: readonly GateInput[] = ["sent", "cut"];

/**
 * Gate.decide's arguments for a request the model reads as `prefilled`, cut
 * from `sent` when that is longer: the sent request and the prefilled prompt
 * ("sent"), or the prefilled prompt alone ("cut", or nothing was cut).
 */
export function gateArgs(prefilled: ChatMessage[], sent: ChatMessage[] | undefined, input: GateInput): [ChatMessage[], ChatMessage[]?] {
  return input === "sent" && sent && sent !== prefilled ? [sent, prefilled] : [prefilled];
}

/** A short hash of what an item asks, so a cache line is only reused for the same question. */
export function itemHash(item: Item): string {
  const what =
    item.kind === "gen" ? [item.messages, item.gold ?? null, ...(item.keywords ? [item.keywords] : [])] : item.kind === "mc" ? [item.messages, item.choices, item.answer] : [item.messages, item.text];
  return createHash("sha256").update(JSON.stringify(what)).digest("hex").slice(0, 12);
}

const steerKey = (s: number | undefined) => (s === undefined ? "none" : `s${s}`);

export class Runner {
  private readonly gens = new Map<string, Promise<string>>();
  private readonly scores = new Map<string, Promise<ScoreResult[]>>();
  private readonly decisions = new Map<string, Promise<GateDecision & { ms: number }>>();
  private decideChain: Promise<unknown> = Promise.resolve();
  /** Scoring runs one prefill at a time, in order. */
  private scoreChain: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: RunnerDeps) {}

  /** The gate's decision for an item, timed, once per (gate, item). */
  private decide(gateName: string, item: Item): Promise<GateDecision & { ms: number }> {
    const key = `${gateName}|${item.id}`;
    let p = this.decisions.get(key);
    if (!p) {
      const gate = this.d.gates.get(gateName);
      if (!gate) throw new Error(`no gate "${gateName}" was built`);
      // One decision at a time, so each is timed alone (not while other prompts' decisions wait in the queue).
      const next = this.decideChain.then(async () => {
        const t = performance.now();
        const r = await gate.decide(...this.gateArgs(item));
        return { ...r, ms: performance.now() - t };
      });
      this.decideChain = next.catch(() => undefined);
      p = next;
      this.decisions.set(key, p);
    }
    return p;
  }

  /** What the gate is given for an item (gateArgs). */
  private gateArgs(item: Item): [ChatMessage[], ChatMessage[]?] {
    return gateArgs(item.messages, item.kind === "gen" ? item.sent : undefined, this.d.gateInput ?? "sent");
  }

  /** "" when the gate reads the prompt the model prefills, else a short hash of the request it reads. */
  private gateReadsTag(item: Item): string {
    const [reads, prefilled] = this.gateArgs(item);
    return prefilled ? `.${createHash("sha256").update(JSON.stringify(reads)).digest("hex").slice(0, 8)}` : "";
  }

  /**
   * Decides every item with a gate, one at a time, before the run starts: each
   * decision is then timed with no model run of the eval's own engine sharing
   * the thread (in the run, an awaiting decision waits for those).
   */
  async decideAll(gateName: string, items: readonly Item[]): Promise<void> {
    for (const item of items) await this.decide(gateName, item);
  }

  private generate(item: GenItem, maxTokens: number, strength: number | undefined): Promise<string> {
    const key = `${item.id}|${steerKey(strength)}`;
    let p = this.gens.get(key);
    if (!p) {
      const req = GenerateRequest.fromPartial({
        requestId: key,
        input: { $case: "conversation", value: { messages: item.messages } },
        sampling: { temperature: 0, maxTokens, seed: this.d.seed },
        steering: strength === undefined ? undefined : { profile: this.d.profileName, strength },
      });
      p = (async () => {
        let text = "";
        for await (const c of this.d.engine.generate(req, new AbortController().signal)) text += c.text;
        return text;
      })();
      this.gens.set(key, p);
    }
    return p;
  }

  /** Token ids of prompt + continuation, and where the continuation starts. */
  private mcIds(messages: ChatMessage[], choice: string): { ids: number[]; start: number; promptLength: number } {
    const e = this.d.engine;
    const prompt = e.promptIds({ $case: "conversation", value: { messages } });
    const text = renderChat(e.manifest.chatTemplate!, messages, { addGenerationPrompt: true }) + choice;
    let full = e.tokenizer.encode(text, { parseSpecial: true });
    if (full.length > 1 && full[0] === e.tokenizer.bosId && full[1] === e.tokenizer.bosId) full = full.slice(1);
    let lcp = 0;
    while (lcp < prompt.length && lcp < full.length && prompt[lcp] === full[lcp]) lcp++;
    // The continuation starts where the prompt's tokens stop matching (normally prompt.length).
    const start = Math.max(1, Math.min(lcp, full.length - 1));
    const ctx = e.manifest.dims.contextLength;
    return { ids: full.slice(0, ctx), start, promptLength: prompt.length };
  }

  /** Log-likelihood of each continuation of the item's prompt (MC choices, or a perplexity item's text). */
  private score(item: Item & { kind: "mc" | "ppl" }, strength: number | undefined): Promise<ScoreResult[]> {
    const key = `${item.id}|${steerKey(strength)}`;
    let p = this.scores.get(key);
    if (!p) {
      const next = this.scoreChain.then(async () => {
        const out: ScoreResult[] = [];
        for (const c of item.kind === "mc" ? item.choices : [item.text]) {
          const { ids, start, promptLength } = this.mcIds(item.messages, c);
          out.push(await this.d.scorer.score(ids, start, promptLength, strength));
        }
        return out;
      });
      this.scoreChain = next.catch(() => undefined);
      p = next;
      this.scores.set(key, p);
    }
    return p;
  }

  /**
   * A cached never/always line answers the same (prompt, steering) for the
   * selective rows too: a selective item's result is by construction the
   * never or the always one, so a new gate variant or band reruns no
   * generation the cache already holds. (Runs synchronously in runSuite,
   * before any selective item is decided.)
   */
  private seed(item: Item, strength: number | undefined, hit: ItemResult): void {
    const key = `${item.id}|${steerKey(strength)}`;
    if (item.kind === "gen" && hit.response !== undefined) {
      if (!this.gens.has(key)) this.gens.set(key, Promise.resolve(hit.response));
    } else if (item.kind === "ppl" && hit.logprob !== undefined && hit.tokens !== undefined) {
      if (!this.scores.has(key)) this.scores.set(key, Promise.resolve([{ logprob: hit.logprob, tokens: hit.tokens, greedy: false }]));
    }
    // (multiple-choice lines keep rounded scores, which could tie where the unrounded ones do not; they are rescored, a prefill each)
  }

  /** Runs one suite under one arm config, reading and extending its cache file. */
  async runSuite(suite: SuiteDef, items: readonly Item[], cfg: ArmConfig): Promise<ItemResult[]> {
    const dir = join(this.d.cacheDir, suite.name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${configKey(cfg)}.jsonl`);
    const cached = new Map<string, ItemResult>();
    if (existsSync(file)) {
      for (const line of readFileSync(file, "utf8").split("\n")) {
        if (!line.trim()) continue;
        try {
          const r = JSON.parse(line) as ItemResult;
          cached.set(r.id, r);
        } catch {
          /* a line cut by an interruption: redone */
        }
      }
    }
    return Promise.all(
      items.map(async (item): Promise<ItemResult> => {
        // A selective line also depends on the gate's artefacts, and on what the gate read.
        const h = cfg.arm === "selective" ? `${itemHash(item)}.${(this.d.gates.get(cfg.gate ?? DEFAULT_GATE)?.hash ?? "").slice(0, 8)}${this.gateReadsTag(item)}` : itemHash(item);
        const hit = cached.get(item.id);
        if (hit && hit.h === h) {
          if (cfg.arm !== "selective") this.seed(item, cfg.arm === "always" ? cfg.strength! : undefined, hit);
          this.d.progress?.tick();
          return hit;
        }
        let strength: number | undefined;
        let base: ItemResult = { id: item.id, h, steered: false };
        if (cfg.arm === "always") strength = cfg.strength!;
        else if (cfg.arm === "selective") {
          const r = await this.decide(cfg.gate ?? DEFAULT_GATE, item);
          if (r.steer) strength = cfg.strength!;
          base = { ...base, ...(r.risk !== undefined ? { risk: Number(r.risk.toFixed(4)) } : {}), ...(r.stage ? { stage: r.stage } : {}), gateMs: Number(r.ms.toFixed(4)) };
        }
        base.steered = strength !== undefined;
        let res: ItemResult;
        if (item.kind === "gen") {
          const response = await this.generate(item, suite.maxTokens ?? 48, strength);
          const request = item.messages[item.messages.length - 1]!.content;
          if (item.gold !== undefined) res = { ...base, response, correct: isCorrect(response, item.gold) };
          else if (item.keywords) {
            const refused = await this.d.judge.refused(request, response);
            const onTopic = isOnTopic(response, item.keywords, refused);
            res = { ...base, response, refused, onTopic, correct: onTopic };
          } else res = { ...base, response, refused: await this.d.judge.refused(request, response), truncated: item.truncated ?? false };
        } else if (item.kind === "ppl") {
          const [r] = await this.score(item, strength);
          res = { ...base, logprob: Number(r!.logprob.toFixed(6)), tokens: r!.tokens };
        } else {
          const scores = (await this.score(item, strength)).map((r) => r.logprob);
          let pred = 0;
          scores.forEach((s, i) => {
            if (s > scores[pred]!) pred = i;
          });
          res = { ...base, scores: scores.map((s) => Number(s.toFixed(5))), pred, correct: pred === item.answer, shots: item.shots };
        }
        appendFileSync(file, `${JSON.stringify(res)}\n`);
        this.d.progress?.tick();
        return res;
      }),
    );
  }
}
