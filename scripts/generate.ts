/**
 * `npm run generate -- [--model DIR] (--prompt TEXT | --chat TEXT) [options]`
 *
 * Runs the engine in-process (no gRPC) and prints the completion: the text as
 * it streams, or with --json one JSON object per generated token.
 */
import { parseArgs } from "node:util";
import { GenerateRequest } from "../proto/gen/steerguard/v1/sidecar.ts";
import { Engine } from "../sidecar/engine/engine.ts";
import { DEFAULT_MODEL_SOURCE, modelOrSource, resolveModelDir } from "../sidecar/model-source.ts";

const HELP = `Usage: npm run generate -- [--model DIR] (--prompt TEXT | --chat TEXT) [options]

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
  let values;
  try {
    ({ values } = parseArgs({
      options: {
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
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) return void process.stdout.write(HELP);
  if ((values.prompt === undefined) === (values.chat === undefined)) fail("give exactly one of --prompt and --chat");
  if (values.device !== "cpu" && values.device !== "cuda") fail(`--device must be cpu or cuda, got "${values.device}"`);
  const seed = num("seed", values.seed, { int: true, min: 0 });
  if (seed !== undefined && !Number.isSafeInteger(seed)) fail(`--seed must be at most ${Number.MAX_SAFE_INTEGER}`);

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
  });
  const dir = await resolveModelDir({ ...modelOrSource(values.model), log: (m) => process.stderr.write(`${m}\n`) });
  const engine = await Engine.load(dir, { device: values.device });
  const tok = engine.tokenizer;
  try {
    for await (const chunk of engine.generate(request, new AbortController().signal)) {
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
