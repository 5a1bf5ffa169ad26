/**
 * Faults one request could cause (issue 14 faults 1, 2, 6, 7), sent to the
 * real service while other traffic runs:
 *
 * - huge-prompt (#1): three 100,000-character messages (300 KB), 100,000 CJK
 *   characters, and a burst of them at once: each gets a 400 (longer than the
 *   context) in seconds, never "Maximum call stack", and unrelated requests
 *   sent meanwhile are answered with /readyz staying ready.
 * - stop-string (#2): streams whose stop strings hold text back (the issue's
 *   `"stop":["is a Q"]` at temperature 0, and others) end with [DONE], with a
 *   200 event (it used to hang and blame the client, 499).
 * - model-limits (#6): a 500,000-character model name, NUL, a lone
 *   surrogate, over-long user / name / stop: a 400 naming the field, a short
 *   answer that does not echo the value, nothing huge in the events file.
 * - unsupported-params (#7): tools, tool_choice, response_format, functions,
 *   function_call, logit_bias, penalties...: a 400 naming the parameter;
 *   their empty forms are accepted.
 */
import { readFileSync, existsSync } from "node:fs";
import type { Outcome } from "../client.ts";
import { SAFE_PROMPTS } from "../config.ts";
import { sleep } from "../procs.ts";
import { pooled } from "../traffic.ts";
import { answered, clientError, secs, Tally } from "../tally.ts";
import type { CaseContext, ChaosCase } from "../types.ts";

/** Unrelated traffic while a case runs: one client sending small requests back to back, and /readyz polled. */
function background(ctx: CaseContext, t: Tally) {
  let stop = false;
  const readyz = { samples: 0, notReady: 0 };
  let slowest = 0;
  const loop = (async () => {
    for (let i = 0; !stop && !ctx.signal.aborted; i++) {
      const o = t.add(await ctx.client.chat({ tag: `${t.name}-bg`, content: SAFE_PROMPTS[i % SAFE_PROMPTS.length], maxTokens: 4 }), answered);
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
  o.status === 400 && !/call stack/i.test(o.error?.message ?? o.body) ? null : "400 (longer than the context), not a stack overflow";

export const hugePrompt: ChaosCase = {
  name: "huge-prompt",
  fault: "#1",
  summary: "300 KB and 100k-CJK prompts (alone and in a burst): fast 400s, unrelated requests answered, /readyz stays ready",
  async run(ctx) {
    const t = new Tally("huge-prompt", "#1");
    const text = "the quick brown fox jumps over the lazy dog. ".repeat(2_300).slice(0, 100_000);
    const three = [
      { role: "user", content: text },
      { role: "assistant", content: text },
      { role: "user", content: text },
    ];
    const cjk = [{ role: "user", content: "漢字かな交じり文".repeat(12_500) }];
    const huge = (tag: string, messages: unknown[]) => ctx.client.chat({ tag, messages, maxTokens: 8 });
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
    const outs = await pooled(
      cases.flatMap((c) => [true, false].map((stream) => () => ctx.client.chat({ tag: "stop", stream, content: c.content ?? SAFE_PROMPTS[0], stop: c.stop, temperature: c.temperature, seed: c.seed, maxTokens: 64 }))),
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
    const msgs = (extra: Record<string, unknown> = {}) => [{ role: "user", content: SAFE_PROMPTS[1], ...extra }];
    const raw = (model: string) => `{"model":"${model}","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`;
    const probes: Array<{ what: string; param: string; opts: Parameters<typeof ctx.client.chat>[0] }> = [
      { what: "a 500,000-character model", param: "model", opts: { model: "m".repeat(500_000) } },
      { what: "a 257-character model", param: "model", opts: { model: "m".repeat(257) } },
      { what: "a model with NUL", param: "model", opts: { model: "organism\u0000260K" } },
      { what: "a model with a lone surrogate", param: "model", opts: { rawBody: raw("organism\\ud800260K") } },
      { what: "a 100,000-character user", param: "user", opts: { extra: { user: "u".repeat(100_000) } } },
      { what: "a 300-character message name", param: "messages", opts: { messages: msgs({ name: "n".repeat(300) }) } },
      { what: "a 1,000-character stop string", param: "stop", opts: { stop: ["s".repeat(1_000)] } },
      { what: "five stop strings", param: "stop", opts: { stop: ["a", "b", "c", "d", "e"] } },
    ];
    const sizeBefore = existsSync(ctx.stack.eventsPath) ? readFileSync(ctx.stack.eventsPath, "utf8").length : 0;
    for (const p of probes) {
      const o = await ctx.client.chat({ tag: "limits", maxTokens: 4, ...p.opts });
      t.add(o, (x) => {
        if (x.status !== 400 || !x.error) return `400 for ${p.what}`;
        if (!(x.error.param ?? "").startsWith(p.param)) return `a 400 naming ${p.param} for ${p.what} (named ${x.error.param})`;
        if (x.bodyChars > 1_024) return `a short answer for ${p.what} (was ${x.bodyChars} characters)`;
        return null;
      });
    }
    t.add(await ctx.client.chat({ tag: "limits-ok", model: "m".repeat(256), maxTokens: 4 }), answered);
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
  summary: "tools, response_format, logit_bias...: 400 naming the parameter; their empty forms accepted",
  async run(ctx) {
    const t = new Tally("unsupported-params", "#7");
    const fn = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: {} } } };
    const refused: Array<[string, unknown]> = [
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
    ];
    const accepted: Array<[string, unknown]> = [
      ["tools", []],
      ["tool_choice", "auto"],
      ["response_format", { type: "text" }],
      ["logit_bias", {}],
      ["presence_penalty", 0],
      ["parallel_tool_calls", true],
      ["store", false],
      ["metadata", { k: "v" }],
    ];
    for (const [param, value] of refused) {
      const o = await ctx.client.chat({ tag: "unsupported", maxTokens: 4, content: SAFE_PROMPTS[1], extra: { [param]: value } });
      t.add(o, (x) => clientError(400, param)(x) ?? (x.error?.code === "unsupported_parameter" ? null : `code unsupported_parameter for ${param}`));
    }
    for (const [param, value] of accepted) {
      t.add(await ctx.client.chat({ tag: "unsupported-ok", maxTokens: 4, content: SAFE_PROMPTS[1], extra: { [param]: value } }), answered);
    }
    return t.row(ctx);
  },
};
