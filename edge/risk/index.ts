/**
 * The edge's view of the prompt-risk classifier: a `RiskScorer` scores a
 * conversation in [0, 1]. `loadRiskScorer` loads the real classifier
 * (edge/classifier, owned by the classifier issue) and only falls back to
 * `KeywordRiskScorer` when that module or its artifact is missing, saying so
 * through `source` (which /readyz and the startup log report).
 *
 * Two stages: `score()` is the first stage alone (sync, microseconds);
 * `assess()` is the whole gate: with the second stage loaded
 * (`secondStage: true`, second-stage.ts), a first-stage risk inside the
 * uncertain band is decided by the sentence-encoder probe, each text the
 * first stage scored on its own (secondStageReads), and the result names the
 * stage that decided.
 */
import type { RiskAssessment, SecondStage } from "./second-stage.ts";

export type { RiskAssessment } from "./second-stage.ts";
export interface RiskMessage {
  role: string;
  content?: string | null | ReadonlyArray<{ type?: string; text?: string } | string>;
}

export interface RiskScorer {
  /** Risk of the conversation in [0, 1] by the first stage alone. */
  score(messages: readonly RiskMessage[]): number;
  /** The whole gate's decision at `threshold`, and which stage made it. */
  assess(messages: readonly RiskMessage[]): Promise<RiskAssessment>;
  /** The scorer's own decision threshold. */
  readonly threshold: number;
  /** Where the scorer came from, e.g. "classifier 2.5.0 + encoder probe 1.1.0" or "keyword-fallback". */
  readonly source: string;
  /** With a second stage: whether it can decide now (false while its encoder worker is being replaced). */
  secondStageUp?(): boolean;
}

/** `assess` for a single-stage scorer: its score at its threshold. */
function firstStageOnly(scorer: Pick<RiskScorer, "score" | "threshold">, messages: readonly RiskMessage[]): Promise<RiskAssessment> {
  const risk = scorer.score(messages);
  return Promise.resolve({ risk, risky: risk >= scorer.threshold, stage: "classifier" });
}

/** A message's text: its string content, or its text parts joined by "\n". */
export function contentText(m: RiskMessage): string {
  const c = m.content;
  if (typeof c === "string") return c;
  if (!Array.isArray(c)) return "";
  return c.map((p) => (typeof p === "string" ? p : (p?.text ?? ""))).join("\n");
}

/**
 * FALLBACK ONLY: a crude keyword scorer used when the trained classifier
 * (edge/classifier) cannot be loaded. It is not a safety control: it exists so
 * the edge still starts (and logs loudly) in a checkout without the artifact.
 */
export class KeywordRiskScorer implements RiskScorer {
  readonly threshold = 0.5;
  readonly source = "keyword-fallback";
  private static readonly WORDS =
    /\b(bomb|explosive|weapon|kill|murder|poison|meth|hack|malware|ransomware|steal|suicide|terror|anthrax|nerve agent|launder|counterfeit)\w*/gi;
  score(messages: readonly RiskMessage[]): number {
    let hits = 0;
    for (const m of messages) {
      if (m.role === "assistant" || m.role === "tool") continue;
      hits += contentText(m).match(KeywordRiskScorer.WORDS)?.length ?? 0;
    }
    return hits === 0 ? 0.05 : Math.min(0.99, 0.6 + 0.1 * hits);
  }
  assess(messages: readonly RiskMessage[]): Promise<RiskAssessment> {
    return firstStageOnly(this, messages);
  }
}

/** A scorer that always answers `risk` (tests). */
export function fixedScorer(risk: number | ((messages: readonly RiskMessage[]) => number), threshold = 0.5): RiskScorer {
  const scorer = { score: typeof risk === "number" ? () => risk : risk, threshold, source: "fixed" };
  return { ...scorer, assess: (messages) => firstStageOnly(scorer, messages) };
}

/** Where the second stage's files are (defaults: the shipped probe, the encoder package in node_modules). */
export interface SecondStageFiles {
  probe?: string | URL;
  encoderDir?: string | URL;
  /** The longest a prompt may wait for the encoder (default SECOND_STAGE_WAIT_BUDGET_MS). */
  waitBudgetMs?: number;
}

/**
 * The longest a prompt in the band waits for the encoder (its calls run one at
 * a time) before the first stage decides it instead: issue 16's p99 budget for
 * the gate. A burst of in-band prompts past what the encoder serves (about 110
 * a second at 1,250 characters here) then costs the gate's precision on the
 * excess, not every request's latency; `skipped: "busy"` says so.
 */
export const SECOND_STAGE_WAIT_BUDGET_MS = 15;

/**
 * Loads the trained classifier from edge/classifier (its public API:
 * `loadRiskModel(path?)` -> RiskModel with `scoreConversation(messages).risk`
 * and `threshold`). Falls back to KeywordRiskScorer, with a warning through
 * `warn`, when the module or artifact is missing or broken. With
 * `secondStage` (config `classifier.second_stage`), also loads the encoder
 * probe and the sentence encoder; when they cannot be loaded, or were fitted
 * with another first stage or other encoder files, it warns and runs the
 * first stage alone (`source` says which).
 */
export async function loadRiskScorer(
  opts: { artifact?: string; warn?: (msg: string) => void; secondStage?: boolean | SecondStageFiles } = {},
): Promise<RiskScorer> {
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  let model: import("../classifier/index.ts").RiskModel;
  let messageText: (m: RiskMessage) => string;
  try {
    const mod = await import("../classifier/index.ts");
    model = await mod.loadRiskModel(opts.artifact);
    messageText = mod.messageText;
  } catch (err) {
    warn(`edge: prompt-risk classifier unavailable (${(err as Error).message}); using the KEYWORD FALLBACK scorer`);
    return new KeywordRiskScorer();
  }
  const first = {
    threshold: model.threshold,
    source: `classifier ${model.version}`,
    score: (messages: readonly RiskMessage[]) => model.scoreConversation(messages).risk,
  };
  const second = opts.secondStage ? await loadSecondStage(model.version, opts.secondStage === true ? {} : opts.secondStage, warn) : undefined;
  if (!second) return { ...first, assess: (messages) => firstStageOnly(first, messages) };
  const { stage, encoder } = second;
  const budget = (typeof opts.secondStage === "object" ? opts.secondStage.waitBudgetMs : undefined) ?? SECOND_STAGE_WAIT_BUDGET_MS;
  const failures = new FailureLog(warn);
  return {
    threshold: model.threshold,
    source: `${first.source} + encoder probe ${stage.artifact.version}`,
    score: first.score,
    secondStageUp: () => encoder.up,
    async assess(messages) {
      const r = model.scoreConversation(messages);
      // Outside the band the first stage decides (as decide would), and nothing is gathered to read.
      if (!stage.inBand(r.risk)) return { risk: r.risk, risky: r.risky, stage: "classifier" };
      const firstDecides = (skipped: RiskAssessment["skipped"]): RiskAssessment => ({ risk: r.risk, risky: r.risky, stage: "classifier", skipped });
      if (encoder.expectedWaitMs() > budget) return firstDecides("busy");
      try {
        const reads = secondStageReads(messages, r, messageText);
        return await stage.decide({ ...r, parts: reads }, model.threshold, (read) => embedParts(encoder, read.map((i) => reads[i]!.texts)));
      } catch (err) {
        failures.report((err as Error).message);
        return firstDecides("error");
      }
    },
  };
}

/**
 * Second-stage failures, logged at most once a minute with the count since the
 * last line: a broken encoder fails every in-band prompt, and a line per
 * request would bury the log (the metric counts each one).
 */
export class FailureLog {
  private last = -Infinity;
  private unlogged = 0;

  constructor(
    private readonly warn: (msg: string) => void,
    private readonly everyMs = 60_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  report(message: string): void {
    this.unlogged++;
    if (this.now() - this.last < this.everyMs) return;
    const more = this.unlogged > 1 ? ` (${this.unlogged} failures since the last report)` : "";
    this.warn(`edge: second stage failed (${message}); the first stage decided${more}`);
    this.last = this.now();
    this.unlogged = 0;
  }
}

/** The probe and the encoder, checked against each other and the first stage; undefined (with a warning) when unusable. */
async function loadSecondStage(
  firstVersion: string,
  files: SecondStageFiles,
  warn: (msg: string) => void,
): Promise<{ stage: SecondStage; encoder: import("../encoder/onnx.ts").OnnxSentenceEncoder } | undefined> {
  try {
    const { DEFAULT_PROBE_URL, parseProbeArtifact } = await import("./second-stage.ts");
    const { readFile } = await import("node:fs/promises");
    const stage = parseProbeArtifact(await readFile(files.probe ?? DEFAULT_PROBE_URL, "utf8"));
    const want = stage.artifact.firstStage.modelVersion;
    if (want !== firstVersion) throw new Error(`the probe was fitted with classifier ${want}, this is ${firstVersion}`);
    // onnxruntime, not TensorFlow.js: the same embeddings to 1e-6, about 5x faster (edge/encoder/onnx.ts).
    const { OnnxSentenceEncoder } = await import("../encoder/onnx.ts");
    const { canUseWorker } = await import("../encoder/worker-runner.ts");
    // (the probe is only valid on the encoder files it was fitted on). Under Deno (the edge) the session runs
    // in a worker: onnxruntime-node runs synchronously, and would hold the event loop that serves requests.
    const encoder = await OnnxSentenceEncoder.load({ dir: files.encoderDir, expectSha256: stage.artifact.encoder.sha256, worker: canUseWorker(), log: warn });
    return { stage, encoder };
  } catch (err) {
    warn(`edge: classifier second stage unavailable (${(err as Error).message}); the first stage decides alone`);
    return undefined;
  }
}

/**
 * What the second stage reads of a text the first stage scored (one of
 * RiskModel.scoreConversation's parts, or its result: the text that decided):
 * that message or the joined turns; beside it the decoded reading that
 * scored higher, if one did (`reading`: base64, ROT13, ...); and for a
 * message longer than the encoder reads whole, that message's highest-scoring
 * piece (`piece`), since padding at both ends would hide the request from it.
 * The highest probe logit counts (SecondStage.decide), so each text beside
 * the first can only add risk: a reading that decodes to something harmless
 * (a decoy in base64 after a plain request) cannot take the request's place.
 */
export function secondStageTexts(messages: readonly RiskMessage[], r: { source: string; reading?: string; piece?: string }, textOf: (m: RiskMessage) => string = contentText): string[] {
  const texts = [decidingText(messages, r.source, textOf)];
  if (r.reading !== undefined) texts.push(r.reading);
  if (r.piece !== undefined) texts.push(r.piece);
  return texts;
}

/**
 * Everything the second stage may read of a conversation the first stage
 * scored, each with the first-stage risk it is decided by
 * (SecondStage.decide): every text scored (each message and the joined turns,
 * `parts`, read by secondStageTexts), and a long message's next riskiest
 * sentences (`pieces`), each alone with its own risk; and, with no text, the
 * highest risk of that message's sentences past those (`unread`), which keeps
 * the first stage's decision.
 */
export function secondStageReads(
  messages: readonly RiskMessage[],
  r: { parts: readonly { source: string; risk: number; reading?: string; piece?: string; pieces?: readonly { text: string; risk: number }[]; unread?: number }[] },
  textOf: (m: RiskMessage) => string = contentText,
): { risk: number; texts: string[] }[] {
  return r.parts.flatMap((p) => [
    { risk: p.risk, texts: secondStageTexts(messages, p, textOf) },
    ...(p.pieces ?? []).map((q) => ({ risk: q.risk, texts: [q.text] })),
    ...(p.unread === undefined ? [] : [{ risk: p.unread, texts: [] }]),
  ]);
}

/**
 * Embeddings of several parts' texts, split back per part. Each text is its
 * own call, so that the encoder pads it only with texts of a like length
 * (its runs coalesce waiting single texts within MAX_PADDING_RATIO,
 * edge/encoder/base.ts): a long message's 128 pieces and its sentences of 20
 * in one run would pad every sentence to 128.
 */
export async function embedParts(encoder: { embed(text: string): Promise<Float32Array> }, texts: readonly (readonly string[])[]): Promise<Float32Array[][]> {
  return Promise.all(texts.map((t) => Promise.all(t.map((x) => encoder.embed(x)))));
}

/**
 * The text whose first-stage score decided a conversation's risk
 * (RiskModel.scoreConversation's `source`): that message, or every
 * client-written message joined. The second stage reads the same text.
 */
export function decidingText(messages: readonly RiskMessage[], source: string, textOf: (m: RiskMessage) => string = contentText): string {
  if (source.startsWith("turn:")) return textOf(messages[Number(source.slice(5))] ?? { role: "user" });
  const client = messages.filter((m) => m.role === "user" || m.role === "system" || m.role === "developer");
  if (source === "last") return textOf([...client].reverse().find((m) => m.role === "user" && textOf(m)) ?? { role: "user" });
  // As RiskModel.scoreConversation joins them (its TURN_SEPARATOR; not imported: this module loads the classifier lazily).
  return client.map(textOf).filter(Boolean).join("\n");
}
