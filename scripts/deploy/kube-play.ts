/**
 * A rendered Deployment run as a real pod with `podman kube play`.
 *
 * Podman (4.3, Debian 12) reads the Deployment and its ConfigMap from the
 * YAML; a Secret is read from a podman secret of the same name whose content
 * is the Secret's `data` map as JSON, so the rendered Secret becomes one.
 * Container ports are published on the host.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeObject } from "./chart.ts";
import type { Podman } from "./podman.ts";

export interface PlayedPod {
  /** Container id by container name in the manifest ("edge", "sidecar"). */
  containers: Record<string, string>;
  /** Host path of a container's volume mount. */
  mountSource(container: string, destination: string): string;
  /** Stops and removes the pod, its volumes and the secrets. */
  down(): void;
}

/** The rendered Secret as the podman secret kube play reads (its data, base64, as JSON). */
function secretContent(secret: KubeObject): string {
  const data = { ...((secret.data as Record<string, string>) ?? {}) };
  for (const [k, v] of Object.entries((secret.stringData as Record<string, string>) ?? {})) data[k] = Buffer.from(v).toString("base64");
  return JSON.stringify(data);
}

/** Plays the Deployment `deployment` with the ConfigMaps and Secrets among `objects`. */
export function playDeployment(podman: Podman, objects: readonly KubeObject[], deployment: string, workDir: string): PlayedPod {
  const dep = objects.find((o) => o.kind === "Deployment" && o.metadata.name === deployment);
  if (!dep) throw new Error(`no Deployment ${deployment} in the rendered chart`);
  const secrets = objects.filter((o) => o.kind === "Secret");
  for (const s of secrets) {
    const file = join(workDir, `secret-${s.metadata.name}.json`);
    writeFileSync(file, secretContent(s), { mode: 0o600 });
    podman.tryRun(["secret", "rm", s.metadata.name]);
    podman.run(["secret", "create", s.metadata.name, file]);
  }
  const manifest = join(workDir, "play.yaml");
  // JSON is YAML: one document per object.
  writeFileSync(manifest, [dep, ...objects.filter((o) => o.kind === "ConfigMap")].map((o) => JSON.stringify(o)).join("\n---\n") + "\n");
  const down = () => {
    podman.tryRun(["kube", "down", manifest]);
    for (const s of secrets) podman.tryRun(["secret", "rm", s.metadata.name]);
    for (const v of volumes) podman.tryRun(["volume", "rm", "-f", v]);
  };
  const volumes: string[] = [];
  let out: string;
  try {
    out = podman.run(["kube", "play", manifest]);
  } catch (e) {
    down();
    throw e;
  }
  const ids = out.split("Containers:")[1]?.split(/\s+/).filter(Boolean) ?? [];
  const containers: Record<string, string> = {};
  const specNames = ((dep.spec as { template: { spec: { containers: { name: string }[] } } }).template.spec.containers ?? []).map((c) => c.name);
  for (const id of ids) {
    const name = podman.run(["inspect", "--format", "{{.Name}}", id]).trim();
    const spec = specNames.find((n) => name.endsWith(`-${n}`));
    if (spec) containers[spec] = id;
    const mounts = JSON.parse(podman.run(["inspect", "--format", "{{json .Mounts}}", id])) as { Name?: string; Type: string }[];
    for (const m of mounts) if (m.Type === "volume" && m.Name) volumes.push(m.Name);
  }
  const missing = specNames.filter((n) => !containers[n]);
  if (missing.length) {
    down();
    throw new Error(`kube play started no container ${missing.join(", ")}: ${out}`);
  }
  return {
    containers,
    mountSource: (container, destination) => {
      const mounts = JSON.parse(podman.run(["inspect", "--format", "{{json .Mounts}}", containers[container]!])) as { Source: string; Destination: string }[];
      const m = mounts.find((x) => x.Destination === destination);
      if (!m) throw new Error(`${container} has no mount at ${destination}`);
      return m.Source;
    },
    down,
  };
}

/** Restart count and state of a container. */
export function containerState(podman: Podman, id: string): { restarts: number; status: string; startedAt: string } {
  const [restarts, status, startedAt] = podman.run(["inspect", "--format", "{{.RestartCount}}|{{.State.Status}}|{{.State.StartedAt}}", id]).trim().split("|");
  return { restarts: Number(restarts), status: status!, startedAt: startedAt! };
}
