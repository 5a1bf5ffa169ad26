/**
 * The edge's view of the prompt-risk classifier: a `RiskScorer` scores a
 * conversation in [0, 1]. `loadRiskScorer` loads the real classifier
 * (edge/classifier, owned by the classifier issue) and only falls back to
 * `KeywordRiskScorer` when that module or its artifact is missing, saying so
 * through `source` (which /readyz and the startup log report).
 */
export interface RiskMessage {
  role: string;
  content?: string | null | ReadonlyArray<{ type?: string; text?: string } | string>;
}

export interface RiskScorer {
  /** Risk of the conversation in [0, 1]. */
  score(messages: readonly RiskMessage[]): number;
  /** The scorer's own decision threshold. */
  readonly threshold: number;
  /** Where the scorer came from, e.g. "classifier 1.0.0" or "keyword-fallback". */
  readonly source: string;
}

function text(m: RiskMessage): string {
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
      hits += text(m).match(KeywordRiskScorer.WORDS)?.length ?? 0;
    }
    return hits === 0 ? 0.05 : Math.min(0.99, 0.6 + 0.1 * hits);
  }
}

/** A scorer that always answers `risk` (tests). */
export function fixedScorer(risk: number | ((messages: readonly RiskMessage[]) => number), threshold = 0.5): RiskScorer {
  return { score: typeof risk === "number" ? () => risk : risk, threshold, source: "fixed" };
}

/**
 * Loads the trained classifier from edge/classifier (its public API:
 * `loadRiskModel(path?)` -> RiskModel with `scoreConversation(messages).risk`
 * and `threshold`). Falls back to KeywordRiskScorer, with a warning through
 * `warn`, when the module or artifact is missing or broken.
 */
export async function loadRiskScorer(opts: { artifact?: string; warn?: (msg: string) => void } = {}): Promise<RiskScorer> {
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  try {
    const mod = await import("../classifier/index.ts");
    const model = await mod.loadRiskModel(opts.artifact);
    return {
      threshold: model.threshold,
      source: `classifier ${model.version}`,
      score: (messages) => model.scoreConversation(messages).risk,
    };
  } catch (err) {
    warn(`edge: prompt-risk classifier unavailable (${(err as Error).message}); using the KEYWORD FALLBACK scorer`);
    return new KeywordRiskScorer();
  }
}
