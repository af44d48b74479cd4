/**
 * Names, versions, ARM ids and URIs the stack derives from its inputs. Pure: the same inputs give the same
 * strings on any machine, so an unchanged checkout gives byte-identical resource inputs.
 * Everything here that rests on an unconfirmed service rule is marked [unconfirmed: …].
 */
import * as crypto from "crypto";

export interface WorkspaceRef {
  readonly subscriptionId: string;
  readonly resourceGroupName: string;
  readonly workspaceName: string;
}

export type AssetKind = "models" | "codes" | "environments" | "components";

export function sha256Hex(text: string): string {
  return crypto.createHash("sha256").update(text).digest("hex");
}

/** JSON with object keys sorted at every level: a stable text to hash a spec by. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}

/**
 * Model versions in a workspace must be positive integers (azureml-examples #2725), so a model's version is
 * the first 7 hex digits of its content hash as a number, plus one: 1..268435456.
 * [unconfirmed: the largest integer the service accepts; 2^28 stays inside a signed 32-bit int]
 */
export function modelVersion(contentHash: string): string {
  return String(parseInt(contentHash.slice(0, 7), 16) + 1);
}

/**
 * Code, environment and component versions are free strings; 16 hex digits of the content hash.
 * [unconfirmed: the service's length limit for these; data asset versions stop at 30 characters]
 */
export function assetVersion(contentHash: string): string {
  return contentHash.slice(0, 16);
}

export function workspaceId(ws: WorkspaceRef): string {
  return (
    `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroupName}` +
    `/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspaceName}`
  );
}

/** ARM id of a registered asset version: .../workspaces/{ws}/{kind}/{name}/versions/{version}. */
export function assetVersionId(ws: WorkspaceRef, kind: AssetKind, name: string, version: string): string {
  return `${workspaceId(ws)}/${kind}/${name}/versions/${version}`;
}

/** How a componentSpec refers to a registered asset (code, environment, model input): `azureml:<ARM id>`. */
export function azuremlRef(armId: string): string {
  return `azureml:${armId}`;
}

/** The long-form datastore URI the SDK writes as a model's modelUri. */
export function datastoreUri(ws: WorkspaceRef, datastoreName: string, pathInDatastore: string): string {
  return (
    `azureml://subscriptions/${ws.subscriptionId}/resourcegroups/${ws.resourceGroupName}` +
    `/workspaces/${ws.workspaceName}/datastores/${datastoreName}/paths/${pathInDatastore}`
  );
}

/** Batch endpoint names: 3-32 characters, a letter first, letters/digits/hyphens, no hyphen last. */
export const ENDPOINT_NAME_PATTERN = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
export const ENDPOINT_NAME_MAX = 32;
/** Base names are kept short so the stack name and a 6-character suffix fit in 32 characters. */
export const ENDPOINT_BASE_MAX = 16;
export const ENDPOINT_BASE_MIN = 3;

export function endpointBaseNameProblem(base: string): string | undefined {
  if (base.length < ENDPOINT_BASE_MIN || base.length > ENDPOINT_BASE_MAX || !ENDPOINT_NAME_PATTERN.test(base)) {
    return (
      `must be ${ENDPOINT_BASE_MIN}-${ENDPOINT_BASE_MAX} characters: a letter first, then letters, digits or hyphens, ` +
      `not ending in a hyphen (e.g. "heart-scoring")`
    );
  }
  return undefined;
}

/**
 * Batch endpoint names are unique per Azure region across all customers, so the name is
 * `<base>-<stack>-<6 hex>` (lower case, the stack part shortened to fit 32 characters), where the suffix
 * hashes the base name, stack, region and workspace: per-PR stacks get their own endpoint, and two
 * workspaces using the same base and stack names do not collide.
 */
export function endpointName(base: string, stack: string, location: string, ws: WorkspaceRef): string {
  const suffix = sha256Hex([base, stack, location.toLowerCase(), ws.subscriptionId, ws.resourceGroupName, ws.workspaceName].join("\n")).slice(0, 6);
  const room = ENDPOINT_NAME_MAX - base.length - suffix.length - 2;
  const stackPart = stack
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .slice(0, Math.max(0, room))
    .replace(/^-+|-+$/g, "");
  const name = [base.toLowerCase(), stackPart, suffix].filter(Boolean).join("-");
  if (!ENDPOINT_NAME_PATTERN.test(name) || name.length > ENDPOINT_NAME_MAX) {
    throw new Error(`endpoint name ${name} breaks the 3-32 character rule; shorten endpointBaseName`);
  }
  return name;
}

/** Deployment names: the same rule as endpoint names. [unconfirmed: deployments share the endpoint rule] */
export const DEPLOYMENT_NAME_PATTERN = ENDPOINT_NAME_PATTERN;
export const DEPLOYMENT_NAME_MAX = 32;

/** Compute names: 2-16 characters, a letter first, letters/digits/hyphens (the Azure ML rule for AmlCompute). */
export const COMPUTE_NAME_PATTERN = /^[a-zA-Z][a-zA-Z0-9-]{1,15}$/;
