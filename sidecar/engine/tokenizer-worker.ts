/**
 * The tokenizer thread's worker (tokenizer-thread.ts): loads the model's
 * tokenizer and answers each checked prompt (prompt-ids.ts PromptText) with
 * its ids.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadModelTokenizer } from "../tokenizer/load.ts";
import { encodePrompt } from "./prompt-ids.ts";
import type { FromTokenizer, TokenizerInit, ToTokenizer } from "./tokenizer-thread.ts";

const port = parentPort!;
const init = workerData as TokenizerInit;
const post = (m: FromTokenizer) => port.postMessage(m);

try {
  const tokenizer = await loadModelTokenizer(init.modelDir, init.manifest);
  port.on("message", (m: ToTokenizer) => {
    if (m.type === "crash") {
      setImmediate(() => {
        throw new Error("crash requested");
      });
      return;
    }
    try {
      post({ type: "ids", id: m.id, ids: encodePrompt(tokenizer, m.text) });
    } catch (err) {
      post({ type: "error", id: m.id, message: err instanceof Error ? err.message : String(err) });
    }
  });
  post({ type: "ready" });
} catch (err) {
  post({ type: "failed", message: err instanceof Error ? err.message : String(err) });
}
