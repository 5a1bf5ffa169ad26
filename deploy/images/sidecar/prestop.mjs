// The sidecar container's preStop hook (the image has no shell):
//   node /app/prestop.mjs [DELAY_SECONDS]
// Kubernetes runs it before it sends SIGTERM. It waits DELAY_SECONDS (default
// 0) while the sidecar still serves, so that the Service's endpoints and the
// edges' health checks move new work elsewhere; then it sends SIGTERM to the
// sidecar (PID 1 of the container), which stops taking new calls, reports
// NOT_SERVING, lets its in-flight streams finish (--grace-ms) and exits. The
// kubelet's own SIGTERM that follows finds the drain under way (the sidecar
// acts on the first); terminationGracePeriodSeconds must cover DELAY_SECONDS
// + the sidecar's --grace-ms.
const delay = Number(process.argv[2] ?? "0");
if (!Number.isFinite(delay) || delay < 0) {
  process.stderr.write(`prestop: DELAY_SECONDS must be a number >= 0, got "${process.argv[2]}"\n`);
  process.exit(2);
}
await new Promise((resolve) => setTimeout(resolve, delay * 1000));
process.kill(1, "SIGTERM");
