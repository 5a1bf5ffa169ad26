/**
 * Every rendered object checked against the Kubernetes API schema with
 * kubernetes-models (`new Kind(obj).validate()`): required fields, types,
 * formats. cert-manager's Certificate is not a core kind: it is checked with
 * @kubernetes-models/cert-manager.
 */
import type { KubeObject } from "./chart.ts";

type Model = new (data: unknown) => { validate(): void };

/** kubernetes-models' module for an apiVersion: "apps/v1" -> kubernetes-models/apps/v1, "v1" -> kubernetes-models/v1. */
async function coreModel(apiVersion: string, kind: string): Promise<Model | null> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`kubernetes-models/${apiVersion}`)) as Record<string, unknown>;
  } catch {
    return null;
  }
  return (mod[kind] as Model | undefined) ?? null;
}

async function certManagerModel(apiVersion: string, kind: string): Promise<Model | null> {
  try {
    const mod = (await import(`@kubernetes-models/cert-manager/${apiVersion}`)) as Record<string, unknown>;
    return (mod[kind] as Model | undefined) ?? null;
  } catch {
    return null;
  }
}

export interface Validation {
  object: string;
  /** "kubernetes-models" or "@kubernetes-models/cert-manager". */
  by: string;
  error?: string;
}

/** Validates each object; an object of an unknown kind is an error. */
export async function validateObjects(objects: readonly KubeObject[]): Promise<Validation[]> {
  const out: Validation[] = [];
  for (const obj of objects) {
    const object = `${obj.kind}/${obj.metadata?.name}`;
    const isCertManager = obj.apiVersion.startsWith("cert-manager.io/");
    const model = isCertManager ? await certManagerModel(obj.apiVersion, obj.kind) : await coreModel(obj.apiVersion, obj.kind);
    if (model) {
      try {
        new model(obj).validate();
        out.push({ object, by: isCertManager ? "@kubernetes-models/cert-manager" : "kubernetes-models" });
      } catch (e) {
        out.push({ object, by: isCertManager ? "@kubernetes-models/cert-manager" : "kubernetes-models", error: (e as Error).message });
      }
    } else {
      out.push({ object, by: "none", error: `no schema for ${obj.apiVersion} ${obj.kind}` });
    }
  }
  return out;
}
