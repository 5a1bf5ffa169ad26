/** The encoder graph's input and output names (graph.ts builds them; onnx-session.ts feeds and reads them). */
export const INPUT_IDS = "ids";
export const INPUT_LENGTHS = "lengths";
export const OUTPUT_EMBEDDINGS = "embeddings";
