/** Public API of the prompt-risk classifier (see MODEL_CARD.md). */
export { RiskModel, messageText, ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION } from "./model.ts";
export type { RiskArtifact, ChatMessage, RiskResult, ConversationRiskResult, ScoredPart } from "./model.ts";
export { loadRiskModel, readArtifactText, ARTIFACT_FILE, DEFAULT_ARTIFACT_URL } from "./load.ts";
export { Featurizer, normalizeText, DEFAULT_FEATURE_CONFIG } from "./features.ts";
export type { FeatureConfig } from "./features.ts";
