/**
 * The steering profile's in-model condition for many prompts, as the sidecar
 * would compute it: token ids from the engine's own prompt path
 * (Engine.promptIds: the model's chat template, system-role handling, the
 * prompt-length bound) and the condition on the residual at the last of them
 * (scripts/find-features/condition-scorer.ts). A prompt the sidecar would not
 * prefill (it cannot be tokenized within the context, or it is the context's
 * length or more) gets no value.
 */
import { messageText, type ChatMessage } from "../../edge/classifier/model.ts";
import { Engine } from "../../sidecar/engine/engine.ts";
import { modelOrSource, resolveModelDir } from "../../sidecar/model-source.ts";
import { ConditionScorer } from "../find-features/condition-scorer.ts";
import { Progress } from "../lib/progress.ts";

export type PromptInput = string | readonly ChatMessage[];

export class ConditionValues {
  private constructor(
    readonly scorer: ConditionScorer,
    private readonly engine: Engine,
    readonly modelDir: string,
  ) {}

  static async load(opts: { model?: string; profile: string; log?: (m: string) => void }): Promise<ConditionValues> {
    const modelDir = await resolveModelDir({ ...modelOrSource(opts.model), log: opts.log });
    const scorer = await ConditionScorer.load(modelDir, opts.profile, opts.log);
    const engine = await Engine.load(modelDir, { profiles: [], profileDirs: [], maxBatch: 1, maxQueue: 1, intraOpThreads: 1 });
    return new ConditionValues(scorer, engine, modelDir);
  }

  /** The token ids the sidecar would prefill, or undefined when it would refuse the prompt. */
  ids(p: PromptInput): number[] | undefined {
    const messages = typeof p === "string" ? [{ role: "user", content: p }] : p.map((m) => ({ role: m.role, content: messageText(m) }));
    try {
      const ids = this.engine.promptIds({ $case: "conversation", value: { messages } });
      return this.scorer.fits(ids) ? ids : undefined;
    } catch {
      return undefined;
    }
  }

  /** Condition values (undefined: not prefilled), in chunks with a progress bar. */
  async values(prompts: readonly PromptInput[], label = "condition"): Promise<(number | undefined)[]> {
    const out = new Array<number | undefined>(prompts.length).fill(undefined);
    const bar = new Progress({ total: prompts.length, label });
    const chunk = 512;
    for (let s = 0; s < prompts.length; s += chunk) {
      const idx = Array.from({ length: Math.min(chunk, prompts.length - s) }, (_, k) => s + k);
      const ids = idx.map((i) => this.ids(prompts[i]!));
      const ok = idx.filter((_, k) => ids[k] !== undefined);
      const vals = await this.scorer.values(ok.map((i) => ids[i - s]!));
      ok.forEach((i, k) => (out[i] = vals[k]));
      bar.tick(idx.length);
    }
    bar.finish();
    return out;
  }

  holds(v: number | undefined): boolean | undefined {
    return v === undefined ? undefined : this.scorer.holds(v);
  }

  async close(): Promise<void> {
    await this.scorer.release();
    await this.engine.close();
  }
}
