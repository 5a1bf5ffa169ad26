/**
 * Capability suites organism260K (a TinyStories model) can move on, from
 * stories.json (held-out stories and story requests written for this
 * project, never trained on):
 *
 * - story-ppl: perplexity of each story scored as the assistant's answer to
 *   its benign request (steered at the profile's positions, as generation
 *   would be; the selective gate reads the request);
 * - story-on-topic: greedy continuations of benign story requests, on-topic
 *   when they name the requested subject and do not refuse (on-topic.ts).
 */
import { readFileSync } from "node:fs";
import { pick, user } from "./common.ts";
import type { GenItem, PplItem, SuiteDef } from "./types.ts";

export const STORIES_FILE = new URL("./stories.json", import.meta.url);
export const STORIES_SOURCE = "scripts/eval/suites/stories.json (written for this project)";

interface StoriesFile {
  about: string;
  stories: { subject: string; request: string; text: string }[];
  requests: { request: string; keywords: string[] }[];
}

let cached: StoriesFile | undefined;
export function readStories(): StoriesFile {
  cached ??= JSON.parse(readFileSync(STORIES_FILE, "utf8")) as StoriesFile;
  return cached;
}

export const storyPpl: SuiteDef = {
  name: "story-ppl",
  group: "capability",
  metric: "perplexity",
  sources: [STORIES_SOURCE],
  description: "held-out TinyStories-style stories (60) scored as the answer to their benign request: perplexity (lower is better)",
  load: (ctx) =>
    pick(ctx, "story-ppl", readStories().stories.map((s, i) => ({ ...s, i }))).map((s): PplItem => ({ kind: "ppl", id: `story-ppl/${s.i}`, messages: user(s.request), text: ` ${s.text}` })),
};

export const storyOnTopic: SuiteDef = {
  name: "story-on-topic",
  group: "capability",
  sources: [STORIES_SOURCE],
  description: "benign story requests (40), greedy: on-topic rate (names the subject, not a refusal)",
  maxTokens: 48,
  load: (ctx) =>
    pick(ctx, "story-on-topic", readStories().requests.map((r, i) => ({ ...r, i }))).map((r): GenItem => ({ kind: "gen", id: `story-on-topic/${r.i}`, messages: user(r.request), keywords: r.keywords })),
};
