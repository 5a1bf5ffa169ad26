/**
 * onnxruntime-node, with its telemetry off. Since 1.2x onnxruntime starts
 * Microsoft's 1DS telemetry with its environment; on Linux that writes an
 * empty `mat-debug-<pid>.log` into TMPDIR for every process, never removed.
 * ORT_DISABLE_TELEMETRY is read when the first session is created, so setting
 * it here (before any session) is enough; an operator's own setting wins.
 * Import onnxruntime from this module, not from "onnxruntime-node".
 */
process.env.ORT_DISABLE_TELEMETRY ??= "1";

export * from "onnxruntime-node";
