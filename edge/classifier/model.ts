/**
 * Prompt-risk scorer: hashed character/word n-grams -> L2-normalised counts ->
 * logistic regression. Pure TypeScript (no Node or Deno APIs): build it from the
 * artifact's parsed JSON (or its text / UTF-8 bytes) with `RiskModel.fromArtifact`.
 */
import { Featurizer, foldText, type FeatureConfig } from "./features.ts";
import { decodeBase64 } from "./base64.ts";

export const ARTIFACT_FORMAT = "steerguard.prompt-risk.hashed-lr";
export const ARTIFACT_FORMAT_VERSION = 1;

/** The JSON artifact written by `npm run train:classifier`. */
export interface RiskArtifact {
  format: typeof ARTIFACT_FORMAT;
  formatVersion: number;
  /** semantic version of the trained model */
  modelVersion: string;
  features: FeatureConfig;
  bias: number;
  /** the shipped decision threshold on the risk (0..1) */
  threshold: number;
  /** weights as little-endian int16, base64; weight = int * weightScale */
  weightEncoding: "int16le-base64";
  weightScale: number;
  weights: string;
  /** score sentences/lines separately too (see RiskModel.logit); absent = whole text only */
  segments?: { minTextChars: number; minChars: number; maxSegments: number };
  /** free-form training metadata (data, seed, metrics); ignored by the scorer */
  training?: unknown;
}

/** An OpenAI-style chat message; `content` may be a string or an array of parts. */
export interface ChatMessage {
  role: string;
  content?: string | null | ReadonlyArray<{ type?: string; text?: string } | string>;
  name?: string;
}

export interface RiskResult {
  /** risk in [0, 1] */
  risk: number;
  /** risk >= the shipped threshold */
  risky: boolean;
}

export interface ConversationRiskResult extends RiskResult {
  /** which part produced the maximum: "last", "turn:<i>" (message index) or "joined" */
  source: string;
}

function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** Text of a message's content (string or OpenAI content parts; non-text parts are ignored). */
export function messageText(m: ChatMessage): string {
  const c = m.content;
  if (typeof c === "string") return c;
  if (!Array.isArray(c)) return "";
  let s = "";
  for (const part of c) {
    const t = typeof part === "string" ? part : part && typeof part.text === "string" ? part.text : "";
    if (t) s += (s ? "\n" : "") + t;
  }
  return s;
}

/** Roles whose text the client writes and whose intent we judge. */
const CLIENT_ROLES = new Set(["user", "system", "developer"]);

export class RiskModel {
  readonly threshold: number;
  readonly version: string;
  readonly featureConfig: FeatureConfig;
  private readonly bias: number;
  private readonly segments: { minTextChars: number; minChars: number; maxSegments: number } | undefined;
  private readonly weights: Int16Array;
  private readonly weightScale: number;
  private readonly featurizer: Featurizer;
  private keys = new Int32Array(1024).fill(-1);
  private cnts = new Uint32Array(1024);
  private slots = new Int32Array(1024);

  constructor(artifact: RiskArtifact) {
    if (artifact.format !== ARTIFACT_FORMAT) throw new Error(`not a prompt-risk artifact: format ${String(artifact.format)}`);
    if (artifact.formatVersion !== ARTIFACT_FORMAT_VERSION) {
      throw new Error(`unsupported prompt-risk artifact formatVersion ${artifact.formatVersion}`);
    }
    if (artifact.weightEncoding !== "int16le-base64") throw new Error(`unsupported weight encoding ${artifact.weightEncoding}`);
    this.featurizer = new Featurizer(artifact.features);
    this.featureConfig = artifact.features;
    const dim = artifact.features.dim;
    const bytes = decodeBase64(artifact.weights);
    if (bytes.length !== dim * 2) throw new Error(`weights hold ${bytes.length} bytes, expected ${dim * 2}`);
    // Kept as int16 (half the memory of float32, so more of it stays in cache);
    // the scale is applied once per text.
    const w = new Int16Array(dim);
    for (let i = 0, b = 0; i < dim; i++, b += 2) w[i] = (bytes[b] | (bytes[b + 1] << 8)) << 16 >> 16;
    this.weights = w;
    this.weightScale = artifact.weightScale;
    this.bias = artifact.bias;
    this.segments = artifact.segments;
    this.threshold = artifact.threshold;
    this.version = artifact.modelVersion;
  }

  /** Builds a model from the artifact as parsed JSON, JSON text, or UTF-8 bytes of the JSON. */
  static fromArtifact(artifact: RiskArtifact | string | Uint8Array): RiskModel {
    if (typeof artifact === "string") return new RiskModel(JSON.parse(artifact) as RiskArtifact);
    if (artifact instanceof Uint8Array) return new RiskModel(JSON.parse(new TextDecoder().decode(artifact)) as RiskArtifact);
    return new RiskModel(artifact);
  }

  /**
   * Logit of one text under the text rule:
   *
   *   logit(text) = max( vectorLogit(text), max over segments s: vectorLogit(s) )
   *
   * where segments are the text's lines and sentences (split at line breaks and
   * at . ! ? followed by white space) of at least `segments.minChars` characters,
   * when the artifact enables segments and the text has at least
   * `segments.minTextChars` characters (ordinary prompts are shorter and are
   * judged as a whole: their sentences alone lose the context). Why: the features are L2-normalised over
   * the whole text, so a short harmful request inside a 3,000-character jailbreak
   * template contributes only a small share of the vector; scored on its own, the
   * request's sentence looks like the direct request it is. Cost: about twice the featurising.
   */
  logit(text: string): number {
    // Fold once (cap, surrogates, NFKD, lower case); segments are slices of the folded text.
    const folded = foldText(text, this.featureConfig.maxChars);
    let z = this.foldedLogit(folded);
    const seg = this.segments;
    const n = folded.length;
    if (!seg || n < seg.minTextChars) return z;
    let start = 0;
    let count = 0;
    for (let i = 0; i <= n && count < seg.maxSegments; i++) {
      let end = -1;
      let next = i + 1;
      if (i === n) end = n;
      else {
        const c = folded.charCodeAt(i);
        if (c === 10 || c === 13) end = i;
        else if ((c === 46 || c === 33 || c === 63) && i + 1 < n) {
          const d = folded.charCodeAt(i + 1);
          if (d === 32 || d === 10 || d === 13 || d === 9) {
            end = i + 1;
            next = i + 1;
          }
        }
      }
      if (end < 0) continue;
      if (start === 0 && end === n) break; // one segment: the whole text, already scored
      if (end - start >= seg.minChars) {
        const zs = this.foldedLogit(folded.slice(start, end));
        if (zs > z) z = zs;
        count++;
      }
      start = next;
    }
    return z;
  }

  /**
   * Logit of the whole text as one vector: bias + w . (counts / ||counts||).
   * Counts are gathered in a small open-addressing table sized to the prompt
   * (cache-resident), not in a dim-sized array.
   */
  vectorLogit(text: string): number {
    return this.foldedLogit(foldText(text, this.featureConfig.maxChars));
  }

  private foldedLogit(folded: string): number {
    const idx = this.featurizer.indicesFolded(folded);
    const n = idx.length;
    if (n === 0) return this.bias;
    let size = 64;
    while (size < n * 2) size <<= 1;
    if (this.keys.length < size) {
      this.keys = new Int32Array(size).fill(-1);
      this.cnts = new Uint32Array(size);
      this.slots = new Int32Array(size);
    }
    const keys = this.keys;
    const cnts = this.cnts;
    const slots = this.slots;
    const mask = size - 1;
    let t = 0;
    for (let i = 0; i < n; i++) {
      const j = idx[i];
      let h = j & mask; // j is already a uniform hash
      for (;;) {
        const k = keys[h];
        if (k === j) {
          cnts[h]++;
          break;
        }
        if (k === -1) {
          keys[h] = j;
          cnts[h] = 1;
          slots[t++] = h;
          break;
        }
        h = (h + 1) & mask;
      }
    }
    const w = this.weights;
    let dot = 0;
    let nn = 0;
    for (let i = 0; i < t; i++) {
      const h = slots[i];
      const c = cnts[h];
      dot += w[keys[h]] * c;
      nn += c * c;
      keys[h] = -1;
    }
    return this.bias + (this.weightScale * dot) / Math.sqrt(nn);
  }

  /** Risk in [0, 1] of one prompt. */
  scoreText(text: string): number {
    return sigmoid(this.logit(text));
  }

  /**
   * Risk of a whole conversation. The rule:
   *
   *   risk = max( score(each client-authored message on its own),
   *               score(all client-authored messages joined in order) )
   *
   * where client-authored means the `user`, `system` and `developer` roles: in an
   * OpenAI-compatible API the caller writes all three, so all three can carry an
   * attack (jailbreak templates are often placed in the system prompt).
   * - Each message on its own: a harmful request anywhere in the conversation
   *   keeps it risky; the model still reads that request when it generates, and
   *   a harmful turn must not be diluted by long harmless turns around it.
   * - All client messages joined: multi-turn attacks (crescendo, coreference
   *   attacks such as CoSafe's "...can you give me an example of it?") spread
   *   the intent over several turns that each look harmless alone.
   * - Assistant (and tool) messages are left out: a model's refusal or safety
   *   lecture repeats the harmful words and would flag harmless follow-ups, and
   *   a fabricated assistant turn can only help an attack whose request is in
   *   the client's turns, which are scored.
   * The cost is linear in the conversation's length (each client message is
   * featurised twice).
   */
  scoreConversation(messages: readonly ChatMessage[]): ConversationRiskResult {
    let best = -Infinity;
    let source = "empty";
    const parts: string[] = [];
    let lastUser = -1;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (!m || !CLIENT_ROLES.has(m.role)) continue;
      const text = messageText(m);
      if (!text) continue;
      parts.push(text);
      if (m.role === "user") lastUser = i;
      const z = this.logit(text);
      if (z > best) {
        best = z;
        source = `turn:${i}`;
      }
    }
    if (parts.length > 1) {
      const z = this.logit(parts.join("\n"));
      if (z > best) {
        best = z;
        source = "joined";
      }
    }
    if (source === `turn:${lastUser}`) source = "last";
    if (best === -Infinity) best = this.bias; // nothing to judge: the prior
    const risk = sigmoid(best);
    return { risk, risky: risk >= this.threshold, source };
  }

  /** Classifies a prompt string or a conversation at the shipped threshold. */
  classify(input: string | readonly ChatMessage[]): RiskResult {
    if (typeof input === "string") {
      const risk = this.scoreText(input);
      return { risk, risky: risk >= this.threshold };
    }
    const r = this.scoreConversation(input);
    return { risk: r.risk, risky: r.risky };
  }
}
