/**
 * `npm run generate -- [--model DIR] (--prompt TEXT | --chat TEXT) [options]`
 *
 * Runs the engine in-process (no gRPC) and prints the completion: the text as
 * it streams, or with --json one JSON object per generated token.
 */
import { GenerateRequest, ProbeRequest } from "../proto/gen/steerguard/v1/sidecar.ts";
import { loadProfile, type SteeringProfile } from "../sidecar/steering/profile.ts";
import { Engine } from "../sidecar/engine/engine.ts";
import { DEFAULT_MODEL_SOURCE, modelOrSource, resolveModelDir } from "../sidecar/model-source.ts";
import { parseCli } from "./lib/cli.ts";

const HELP = `Usage: npm run generate -- [--model DIR] (--prompt TEXT | --chat TEXT) [--profile FILE [--strength S] [--conditional]] [options]

  --model DIR          a built model directory, or a checkpoint to build (cached)
                       (default ${DEFAULT_MODEL_SOURCE})
  --prompt TEXT        complete raw text (BOS added as the tokenizer's config says)
  --chat TEXT          send TEXT as a user turn through the model's chat template
  --max-tokens N       most tokens to generate (default 128)
  --temperature T      0 = greedy (default 0)
  --top-p P            nucleus sampling (default 1 = off)
  --top-k K            keep the K most likely tokens (default 0 = off)
  --seed S             seed of the sampling RNG (default: random)
  --stop TEXT          stop before TEXT (repeatable)
  --logprobs K         with --json: top-K logprobs per token (default 0)
  --json               one JSON object per generated token: {token, text, logprobs}
  --profile FILE       steer with this steering profile (JSON; its SAE is attached if the model lacks it)
  --strength S         multiplies the profile's values (default 1; 0 with clamp ablates)
  --conditional        steer only if the profile's condition holds at the last prompt token
                       (the profile needs a "condition"); prints the condition's value and outcome
  --condition-threshold X
                       with --conditional: compare with X instead of the profile's threshold
  --probe              print the profile's feature activations on the prompt (JSON) instead of generating
                       (and its condition's value, threshold and outcome when it has one)
  --device DEV         cpu (default) or cuda
  -h, --help           show this help
`;

function fail(message: string): never {
  process.stderr.write(`generate: ${message}\n\n${HELP}`);
  process.exit(2);
}

function num(name: string, raw: string | undefined, { int = false, min = -Infinity } = {}): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min) fail(`--${name} must be ${int ? "an integer" : "a number"} >= ${min}, got "${raw}"`);
  return n;
}

async function main(): Promise<void> {
  const parsed = parseCli(undefined, {
    model: { type: "string" },
    prompt: { type: "string" },
    chat: { type: "string" },
    "max-tokens": { type: "string", default: "128" },
    temperature: { type: "string", default: "0" },
    "top-p": { type: "string" },
    "top-k": { type: "string" },
    seed: { type: "string" },
    stop: { type: "string", multiple: true },
    logprobs: { type: "string", default: "0" },
    json: { type: "boolean", default: false },
    device: { type: "string", default: "cpu" },
    profile: { type: "string" },
    strength: { type: "string", default: "1" },
    conditional: { type: "boolean", default: false },
    "condition-threshold": { type: "string" },
    probe: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  }, HELP, { prefix: "generate: " });
  if ("exit" in parsed) {
    if (parsed.exit !== 0) process.exit(parsed.exit);
    return;
  }
  const { values } = parsed;
  if ((values.prompt === undefined) === (values.chat === undefined)) fail("give exactly one of --prompt and --chat");
  if (values.device !== "cpu" && values.device !== "cuda") fail(`--device must be cpu or cuda, got "${values.device}"`);
  const seed = num("seed", values.seed, { int: true, min: 0 });
  if (seed !== undefined && !Number.isSafeInteger(seed)) fail(`--seed must be at most ${Number.MAX_SAFE_INTEGER}`);

  const strength = num("strength", values.strength)!;
  if (values.probe && !values.profile) fail("--probe needs --profile");
  let profile: SteeringProfile | undefined;
  try {
    profile = values.profile ? loadProfile(values.profile) : undefined;
  } catch (err) {
    fail((err as Error).message);
  }
  const conditionThreshold = num("condition-threshold", values["condition-threshold"]);
  if (values.conditional && !profile) fail("--conditional needs --profile");
  if (values.conditional && !profile!.condition) fail(`--conditional: ${profile!.file} has no "condition"`);
  if (conditionThreshold !== undefined && !values.conditional) fail("--condition-threshold needs --conditional");

  // Check every flag before the (possibly slow) model load.
  const sampling = {
    maxTokens: num("max-tokens", values["max-tokens"], { int: true, min: 1 }),
    temperature: num("temperature", values.temperature, { min: 0 }),
    topP: num("top-p", values["top-p"], { min: 0 }),
    topK: num("top-k", values["top-k"], { int: true, min: 0 }),
    seed,
    stop: values.stop ?? [],
    logprobs: num("logprobs", values.logprobs, { int: true, min: 0 }),
  };
  const request = GenerateRequest.fromPartial({
    requestId: "cli",
    input:
      values.chat !== undefined
        ? { $case: "conversation", value: { messages: [{ role: "user", content: values.chat }] } }
        : { $case: "prompt", value: values.prompt! },
    sampling,
    steering: profile ? { profile: profile.name, strength, conditional: values.conditional, conditionThreshold } : undefined,
  });
  const dir = await resolveModelDir({ ...modelOrSource(values.model), log: (m) => process.stderr.write(`${m}\n`) });
  const engine = await Engine.load(dir, { device: values.device, profiles: profile ? [profile.file] : [] });
  const tok = engine.tokenizer;
  try {
    if (values.probe) {
      const res = await engine.probe(ProbeRequest.fromPartial({ requestId: "cli", input: request.input, profile: profile!.name }));
      process.stdout.write(`${JSON.stringify({ profile: profile!.name, promptTokens: res.promptTokens, features: res.features, ...(res.condition && { condition: res.condition }) })}\n`);
      return;
    }
    for await (const chunk of engine.generate(request, new AbortController().signal)) {
      const c = chunk.condition;
      if (c) process.stderr.write(`condition: value ${c.value} ${c.steer ? ">=" : "<"} threshold ${c.threshold}: ${c.steer ? "steered" : "not steered"}\n`);
      if (values.json) {
        chunk.tokenIds.forEach((id, i) => {
          const lp = chunk.logprobs[i];
          const line = {
            token: id,
            text: tok.tokenText(id),
            ...(lp ? { logprob: lp.chosen?.logprob, logprobs: lp.top.map((t) => ({ token: t.tokenId, text: t.text, logprob: t.logprob })) } : {}),
          };
          process.stdout.write(`${JSON.stringify(line)}\n`);
        });
      } else {
        process.stdout.write(chunk.text);
      }
      if (chunk.finish && !values.json) process.stdout.write("\n");
      if (chunk.finish && profile) process.stderr.write(`steering: profile ${profile.name}, strength ${strength}${values.conditional ? ", conditional" : ""}, applied ${chunk.finish.usage?.steeringApplied ?? false}\n`);
    }
  } catch (err) {
    process.stderr.write(`generate: ${(err as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await engine.close();
  }
}

main().catch((err) => {
  process.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
