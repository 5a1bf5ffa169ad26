/**
 * K-fold splits of held-out prompts for the in-domain ceiling (ceiling.ts):
 * fold k's prompts are the test set, and the other folds' prompts are added to
 * the training data. Never used for the shipped artifact.
 *
 * Prompts are assigned to folds by a seeded hash of their normalised text, so
 * two copies of one prompt always share a fold.
 */
import { dedupeKey, type TextItem, type TrainingData } from "./data.ts";
import { hashString } from "./train-lib.ts";

/** Source prefix of a held-out prompt added to training. */
export const INJECTED_PREFIX = "heldout/";

export function foldOf(text: string, folds: number, seed: number): number {
  return hashString(dedupeKey(text), seed ^ 0xce11) % folds;
}

export interface FoldSplit<T extends TextItem> {
  /** `base` plus the other folds' prompts (a `share` of them), sources prefixed with INJECTED_PREFIX */
  data: TrainingData;
  /** keys to remove from training: every held-out key except the added prompts' */
  heldOut: Set<string>;
  /** fold k's prompts */
  test: T[];
}

/**
 * Fold `fold` of `folds`. `allHeldOut` holds the keys of every held-out prompt
 * (heldOutKeys): those not added stay out of training, fold k's included.
 * `share` < 1 adds only that fraction of the other folds (seeded), for a
 * learning curve.
 */
export function foldSplit<T extends TextItem>(
  base: TrainingData,
  pool: readonly T[],
  allHeldOut: ReadonlySet<string>,
  opts: { fold: number; folds: number; seed: number; share?: number },
): FoldSplit<T> {
  const share = opts.share ?? 1;
  if (!(opts.folds >= 2) || !(opts.fold >= 0 && opts.fold < opts.folds)) throw new Error(`fold ${opts.fold} of ${opts.folds}`);
  const test: T[] = [];
  const added: TextItem[] = [];
  for (const x of pool) {
    if (foldOf(x.text, opts.folds, opts.seed) === opts.fold) test.push(x);
    else if (share >= 1 || hashString(dedupeKey(x.text), opts.seed ^ 0x5a1e) / 4294967296 < share) {
      added.push({ ...x, source: INJECTED_PREFIX + x.source });
    }
  }
  const heldOut = new Set(allHeldOut);
  for (const x of added) heldOut.delete(dedupeKey(x.text));
  for (const x of test) heldOut.add(dedupeKey(x.text));
  return {
    data: {
      harmful: [...base.harmful, ...added.filter((x) => x.label === 1)],
      benign: [...base.benign, ...added.filter((x) => x.label === 0)],
      templates: base.templates,
    },
    heldOut,
    test,
  };
}
