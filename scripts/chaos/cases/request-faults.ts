/**
 * Faults one request could cause (issue 14 faults 1, 2, 6, 7), sent to the
 * real service while other traffic runs, each spread over the endpoints
 * that have the field at fault (the case's seeded mix):
 *
 * - huge-prompt (#1): three 100,000-character messages (300 KB), 100,000 CJK
 *   characters, and a burst of them at once: each gets a 400 (longer than the
 *   context) in seconds, never "Maximum call stack", and unrelated requests
 *   sent meanwhile are answered with /readyz staying ready.
 * - stop-string (#2): streams whose stop strings hold text back (the issue's
 *   `"stop":["is a Q"]` at temperature 0, and others) end with [DONE], with a
 *   200 event (it used to hang and blame the client, 499); chat and legacy
 *   completions (responses has no stop).
 * - model-limits (#6): a 500,000-character model name, NUL, a lone
 *   surrogate, over-long user / name / stop: a 400 naming the field, a short
 *   answer that does not echo the value, nothing huge in the events file.
 * - unsupported-params (#7): each endpoint's own (chat: tools, tool_choice,
 *   response_format, functions, function_call, logit_bias, penalties...;
 *   responses: tools, text.format, reasoning, background...; completions: n,
 *   best_of, echo, suffix, penalties): a 400 naming the parameter, code
 *   unsupported_parameter; their empty forms are accepted.
 */
import { readFileSync, existsSync } from "node:fs";
import { checkError } from "../../fuzz-edge/answer.ts";
import type { Outcome, RequestOptions } from "../client.ts";
import { LONG_PROMPT, PROMPTS, ROUTE_CYCLE } from "../config.ts";
import { sleep } from "../procs.ts";
import { pooled } from "../traffic.ts";
import { answered, secs, Tally } from "../tally.ts";
import type { CaseContext, ChaosCase } from "../types.ts";
import { ENDPOINTS, type Endpoint } from "../wire.ts";

/** Unrelated traffic while a case runs: one client sending small requests back to back, and /readyz polled. */
function background(ctx: CaseContext, t: Tally) {
  let stop = false;
  const readyz = { samples: 0, notReady: 0 };
  let slowest = 0;
  const loop = (async () => {
    for (let i = 0; !stop && !ctx.signal.aborted; i++) {
      const o = t.add(await ctx.client.send({ ...ctx.mix.next(), tag: `${t.name}-bg`, content: ROUTE_CYCLE[i % ROUTE_CYCLE.length], maxTokens: 4 }), answered);
      slowest = Math.max(slowest, o.ms);
    }
  })();
  const poll = (async () => {
    while (!stop && !ctx.signal.aborted) {
      const s = await ctx.stack.readyz();
      readyz.samples++;
      if (s !== 200) readyz.notReady++;
      await sleep(100, ctx.signal);
    }
  })();
  return {
    async end() {
      stop = true;
      await Promise.all([loop, poll]);
      return { readyz, slowestMs: Math.round(slowest) };
    },
  };
}

const tooLong = (o: Outcome) =>
  o.status === 400 && o.route !== null && o.route !== "blocked" && !/call stack/i.test(o.error?.message ?? o.body) ? null : "400 from the sidecar (longer than the context), not a stack overflow";

export const hugePrompt: ChaosCase = {
  name: "huge-prompt",
  fault: "#1",
  summary: "300 KB and 100k-CJK prompts (alone and in a burst): fast 400s, unrelated requests answered, /readyz stays ready",
  async run(ctx) {
    const t = new Tally("huge-prompt", "#1");
    // A filler the shipped classifier scores safe (unsteered), so the prompt reaches the sidecar (a risky one would be blocked by the edge first).
    const text = "the cat sat on the mat and looked at the sun. ".repeat(2_200).slice(0, 100_000);
    const three = [
      { role: "user", content: text },
      { role: "assistant", content: text },
      { role: "user", content: text },
    ];
    const cjk = [{ role: "user", content: "漢字かな交じり文".repeat(12_500) }];
    // completions take the last user turn as the prompt (100,000 characters: the most a prompt may have).
    let k = 0;
    const huge = (tag: string, messages: Array<{ role: string; content: string }>) => ctx.client.send({ ...ctx.mix.at(k++), tag, messages, maxTokens: 8 });
    const bg = background(ctx, t);
    const times: number[] = [];
    const take = (o: Outcome) => (times.push(o.ms), t.add(o, tooLong));
    for (let i = 0; i < (ctx.quick ? 1 : 3); i++) take(await huge("huge-300k", three));
    take(await huge("huge-cjk", cjk));
    const burst = ctx.quick ? 3 : 4;
    ctx.log(`  burst of ${burst} huge prompts at once`);
    for (const o of await Promise.all(Array.from({ length: burst }, () => huge("huge-burst", three)))) take(o);
    await sleep(500, ctx.signal);
    const { readyz, slowestMs } = await bg.end();
    t.goal("/readyz stayed ready", readyz.notReady === 0, `${readyz.notReady}/${readyz.samples} samples not ready`);
    t.details.hugeMs = times.map(Math.round);
    t.details.unrelatedSlowestMs = slowestMs;
    t.details.readyz = readyz;
    t.note(`huge prompts answered in ${secs(Math.min(...times))}-${secs(Math.max(...times))}; slowest unrelated request ${secs(slowestMs)}; /readyz not ready ${readyz.notReady}/${readyz.samples}`);
    return t.row(ctx);
  },
};

export const stopString: ChaosCase = {
  name: "stop-string",
  fault: "#2",
  summary: 'streams whose stop strings hold text back (the issue\'s "is a Q") end with [DONE] and a 200 event',
  async run(ctx) {
    const t = new Tally("stop-string", "#2");
    const cases: Array<{ stop: string[]; temperature: number; seed?: number; content?: string }> = [
      { stop: ["is a Q"], temperature: 0 },
      { stop: ["Once upon a time, there was a little dog n"], temperature: 0 },
      { stop: ["the", "The"], temperature: 0 },
      { stop: [" a l", "xyz"], temperature: 0 },
      ...Array.from({ length: ctx.quick ? 3 : 10 }, (_, i) => ({ stop: ["is a Q", "e d", "ppy"], temperature: 1, seed: i + 1 })),
    ];
    // Four at a time: this case is about stop strings, not about load (a long queue would time out first chunks).
    const withStop: Endpoint[] = ["chat", "completions"];
    const outs = await pooled(
      cases.flatMap((c, i) =>
        [true, false].map((stream, j) => () => ctx.client.send({ endpoint: ctx.mix.at(i + j, withStop).endpoint, tag: "stop", stream, content: c.content ?? LONG_PROMPT, stop: c.stop, temperature: c.temperature, seed: c.seed, maxTokens: 64 })),
      ),
      4,
    );
    for (const o of outs) t.add(o, answered);
    t.details.finishReasons = outs.reduce<Record<string, number>>((m, o) => ((m[o.finishReason ?? "none"] = (m[o.finishReason ?? "none"] ?? 0) + 1), m), {});
    return t.row(ctx);
  },
};

export const modelLimits: ChaosCase = {
  name: "model-limits",
  fault: "#6",
  summary: "over-long or malformed model / user / name / stop: 400 naming the field, no echo, nothing huge in the events",
  async run(ctx) {
    const t = new Tally("model-limits", "#6");
    const msgs = (extra: Record<string, unknown> = {}) => [{ role: "user", content: PROMPTS.unsteered[0], ...extra }];
    const input: Record<Endpoint, string> = { chat: '"messages":[{"role":"user","content":"hi"}]', responses: '"input":"hi"', completions: '"prompt":"hi"' };
    const raw = (ep: Endpoint, model: string) => `{"model":"${model}",${input[ep]}}`;
    const all = ENDPOINTS;
    const probes: Array<{ what: string; param: string; among: readonly Endpoint[]; opts: (ep: Endpoint) => RequestOptions }> = [
      { what: "a 500,000-character model", param: "model", among: all, opts: () => ({ model: "m".repeat(500_000) }) },
      { what: "a 257-character model", param: "model", among: all, opts: () => ({ model: "m".repeat(257) }) },
      { what: "a model with NUL", param: "model", among: all, opts: () => ({ model: "organism\u0000260K" }) },
      { what: "a model with a lone surrogate", param: "model", among: all, opts: (ep) => ({ rawBody: raw(ep, "organism\\ud800260K") }) },
      { what: "a 100,000-character user", param: "user", among: all, opts: () => ({ extra: { user: "u".repeat(100_000) } }) },
      { what: "a 300-character message name", param: "messages", among: ["chat"], opts: () => ({ messages: msgs({ name: "n".repeat(300) }) }) },
      { what: "a 1,000-character stop string", param: "stop", among: ["chat", "completions"], opts: () => ({ stop: ["s".repeat(1_000)] }) },
      { what: "five stop strings", param: "stop", among: ["chat", "completions"], opts: () => ({ stop: ["a", "b", "c", "d", "e"] }) },
    ];
    const sizeBefore = existsSync(ctx.stack.eventsPath) ? readFileSync(ctx.stack.eventsPath, "utf8").length : 0;
    // Each probe on every endpoint that has the field (quick: on one of them, by the mix).
    const sends = probes.flatMap((p, i) => (ctx.quick ? [ctx.mix.at(i, p.among).endpoint] : p.among).map((endpoint) => ({ p, endpoint })));
    for (const { p, endpoint } of sends) {
      const o = await ctx.client.send({ endpoint, tag: "limits", maxTokens: 4, content: PROMPTS.unsteered[0], ...p.opts(endpoint) });
      t.add(o, (x) => {
        if (x.status !== 400 || !x.error) return `400 for ${p.what}`;
        if (!(x.error.param ?? "").startsWith(p.param)) return `a 400 naming ${p.param} for ${p.what} (named ${x.error.param})`;
        if (x.bodyChars > 1_024) return `a short answer for ${p.what} (was ${x.bodyChars} characters)`;
        return null;
      });
    }
    t.add(await ctx.client.send({ ...ctx.mix.next(), tag: "limits-ok", content: PROMPTS.unsteered[0], model: "m".repeat(256), maxTokens: 4 }), answered);
    await sleep(200, ctx.signal);
    const after = existsSync(ctx.stack.eventsPath) ? readFileSync(ctx.stack.eventsPath, "utf8") : "";
    const longest = Math.max(0, ...after.slice(sizeBefore).split("\n").map((l) => l.length));
    t.goal("no event line over 8 KB", longest <= 8_192, `longest new line ${longest} characters`);
    return t.row(ctx);
  },
};

export const unsupportedParams: ChaosCase = {
  name: "unsupported-params",
  fault: "#7",
  summary: "each endpoint's unsupported parameters (tools, response_format, text.format, echo, ...): 400 naming the parameter; their empty forms accepted",
  async run(ctx) {
    const t = new Tally("unsupported-params", "#7");
    for (const [endpoint, params] of Object.entries(UNSUPPORTED) as Array<[Endpoint, Params]>) {
      for (const [param, value] of params.refused) {
        const o = await ctx.client.send({ endpoint, stream: ctx.mix.next().stream, tag: "unsupported", maxTokens: 4, content: PROMPTS.unsteered[0], extra: bodyWith(param, value) });
        t.add(o, (x) => {
          if (x.status !== 400 || x.error?.code !== "unsupported_parameter") return `400 unsupported_parameter for ${param}`;
          const p = checkError(400, { error: x.error }, [param]);
          return p === null && x.error.param === param ? null : `a 400 naming ${param} (${p ?? `named ${x.error.param}`})`;
        });
      }
      for (const [param, value] of params.accepted) {
        t.add(await ctx.client.send({ endpoint, stream: ctx.mix.next().stream, tag: "unsupported-ok", maxTokens: 4, content: PROMPTS.unsteered[0], extra: bodyWith(param, value) }), answered);
      }
    }
    return t.row(ctx);
  },
};

interface Params {
  refused: Array<[string, unknown]>;
  accepted: Array<[string, unknown]>;
}

/** `text.format` → {text: {format: value}}. */
const bodyWith = (param: string, value: unknown): Record<string, unknown> => {
  const [head, ...rest] = param.split(".");
  return { [head!]: rest.length ? bodyWith(rest.join("."), value) : value };
};

const fn = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} } } };

/** Per endpoint, parameters it refuses (a 400 naming them) and their forms that ask for nothing (accepted). */
const UNSUPPORTED: Record<Endpoint, Params> = {
  chat: {
    refused: [
      ["tools", [fn]],
      ["tool_choice", "required"],
      ["response_format", { type: "json_schema", json_schema: { name: "x", schema: { type: "object" } } }],
      ["response_format", { type: "json_object" }],
      ["functions", [fn.function]],
      ["function_call", { name: "get_weather" }],
      ["logit_bias", { "42": 5 }],
      ["presence_penalty", 0.5],
      ["frequency_penalty", 1],
      ["audio", { voice: "alloy", format: "wav" }],
      ["modalities", ["text", "audio"]],
      ["web_search_options", {}],
      ["reasoning_effort", "high"],
    ],
    accepted: [
      ["tools", []],
      ["tool_choice", "auto"],
      ["response_format", { type: "text" }],
      ["logit_bias", {}],
      ["presence_penalty", 0],
      ["parallel_tool_calls", true],
      ["store", false],
      ["metadata", { k: "v" }],
    ],
  },
  responses: {
    refused: [
      ["tools", [{ type: "function", name: "get_weather", parameters: { type: "object", properties: {} } }]],
      ["tool_choice", "required"],
      ["text.format", { type: "json_object" }],
      ["reasoning", { effort: "high" }],
      ["background", true],
      ["max_tool_calls", 2],
    ],
    accepted: [
      ["tools", []],
      ["tool_choice", "none"],
      ["text.format", { type: "text" }],
      ["reasoning", {}],
      ["background", false],
      ["store", true],
      ["truncation", "auto"],
    ],
  },
  completions: {
    refused: [
      ["n", 2],
      ["best_of", 3],
      ["echo", true],
      ["suffix", "the end"],
      ["logit_bias", { "42": 5 }],
      ["presence_penalty", 0.5],
    ],
    accepted: [
      ["n", 1],
      ["best_of", 1],
      ["echo", false],
      ["logit_bias", {}],
      ["frequency_penalty", 0],
    ],
  },
};
