/**
 * The tokenizer thread's worker (tokenizer-thread.ts): loads the model's
 * tokenizer and answers each prompt with its ids, or with the error the
 * engine's own thread would have thrown (prompt-ids.ts).
 */
import { parentPort, workerData } from "node:worker_threads";
import { status } from "@grpc/grpc-js";
import { SidecarError } from "../server/backend.ts";
import { loadModelTokenizer } from "../tokenizer/load.ts";
import { PromptBound } from "../tokenizer/prompt-bound.ts";
import { promptIds, type PromptEncoding } from "./prompt-ids.ts";
import type { FromTokenizer, TokenizerInit, ToTokenizer } from "./tokenizer-thread.ts";

const port = parentPort!;
const init = workerData as TokenizerInit;
const post = (m: FromTokenizer) => port.postMessage(m);

try {
  const { manifest } = init;
  const tokenizer = await loadModelTokenizer(init.modelDir, manifest);
  const encoding: PromptEncoding = {
    tokenizer,
    chatTemplate: manifest.chatTemplate,
    bound: new PromptBound(tokenizer, manifest.dims.contextLength),
    systemRole: init.systemRole,
    modelId: manifest.id,
  };
  port.on("message", (m: ToTokenizer) => {
    if (m.type === "crash") {
      setImmediate(() => {
        throw new Error("crash requested");
      });
      return;
    }
    try {
      post({ type: "ids", id: m.id, ids: promptIds(encoding, m.input) });
    } catch (err) {
      const code = err instanceof SidecarError ? err.code : status.INTERNAL;
      post({ type: "error", id: m.id, code, message: err instanceof Error ? err.message : String(err) });
    }
  });
  post({ type: "ready" });
} catch (err) {
  post({ type: "failed", message: err instanceof Error ? err.message : String(err) });
}
