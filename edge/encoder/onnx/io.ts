/** The encoder graph's input and output names and its output width (graph.ts builds them; onnx-session.ts feeds and reads them). */
export const INPUT_IDS = "ids";
export const INPUT_LENGTHS = "lengths";
export const OUTPUT_EMBEDDINGS = "embeddings";
/** Width of an embedding. */
export const EMBEDDING_DIM = 512;
