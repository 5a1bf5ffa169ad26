// The tokenizer thread's first module: a worker thread does not inherit the TypeScript loader the
// main thread runs under (tsx, or a test runner's), so this registers tsx's in this thread and
// then loads the worker. The sidecar image runs the bundled tokenizer-worker.mjs instead.
import { register } from "tsx/esm/api";

register();
await import("./tokenizer-worker.ts");
