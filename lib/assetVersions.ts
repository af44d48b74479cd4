/**
 * Idempotent registration of immutable, content-addressed asset versions (models, codes, environments,
 * components) in an Azure ML workspace, and their deletion. Plain functions over a three-call API
 * (get / put / delete of `…/workspaces/{ws}/{kind}/{name}/versions/{version}`), so the logic is tested
 * against a fake ARM server and the dynamic resource in infra/assetVersion.ts only wires it up.
 *
 * Why not azure-native's ModelVersion & co.: its create refuses a version that already exists, and with
 * retained, content-addressed versions that is the normal case (a model rolled back A → B → A, a per-PR stack
 * registering the same content in the same workspace, a re-deploy after destroy). Here an existing version is
 * adopted when its content matches what this stack would register, and refused with a clear message when not.
 */
import type { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";
import { armRequest, ArmMethod, jsonOf, serviceMessage } from "./armRequest";
import YAML from "yaml";
import { countCall } from "./callStats";
import { AssetKind, assetVersionId, WorkspaceRef, workspaceId } from "./naming";

export const ASSET_KINDS: readonly AssetKind[] = ["models", "codes", "environments", "components"];

export interface AssetRef extends WorkspaceRef {
  readonly kind: AssetKind;
  readonly name: string;
  readonly version: string;
}

/** The `properties` of the version's ARM body, exactly as sent in the PUT. */
export type AssetProperties = Readonly<Record<string, unknown>>;

/** The three calls registration needs; `armAssetApi` is the real one, tests may put a fake server behind it. */
export interface AssetApi {
  /** The version's `properties`, or undefined when it does not exist (404). */
  get(ref: AssetRef): Promise<Record<string, unknown> | undefined>;
  /**
   * What the service said: "created" (201, this PUT made the version), "updated" (200, the version was already
   * there when the PUT arrived), "exists" (409, already there and not writable).
   */
  put(ref: AssetRef, properties: AssetProperties): Promise<PutOutcome>;
  /** false when the version was already gone (404). */
  delete(ref: AssetRef): Promise<boolean>;
}

export type PutOutcome = "created" | "updated" | "exists";

export class AssetVersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssetVersionError";
  }
}

const SINGULAR: Record<AssetKind, string> = { models: "model", codes: "code", environments: "environment", components: "component" };

/** `model heart-classifier version 42 in workspace mlw (resource group rg)`: how messages name a version. */
export function describeAsset(ref: AssetRef): string {
  return `${SINGULAR[ref.kind]} ${ref.name} version ${ref.version} in workspace ${ref.workspaceName} (resource group ${ref.resourceGroupName})`;
}

// ---- content comparison (pure) ---------------------------------------------------------------------------

const trimSlash = (s: string) => s.replace(/\/+$/, "");
/** mlflow_model / MLFlowModel / mlflow-model → mlflowmodel: the SDK sends snake_case, the spec shows PascalCase. */
const modelTypeKey = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
/**
 * A datastore URI compared with the workspace part case-insensitive (ARM names are) and the path exact (blob
 * names are case-sensitive). [unconfirmed: that the service returns modelUri as sent; recordings show it does]
 */
function uriKey(s: string): string {
  const t = trimSlash(s.trim());
  const at = t.indexOf("/paths/");
  return at < 0 ? t : `${t.slice(0, at).toLowerCase()}${t.slice(at)}`;
}
/** Conda files compared as text, or as YAML data when the service reformatted it. [unconfirmed: whether it does] */
function sameConda(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "string" || typeof b !== "string") return false;
  try {
    return JSON.stringify(YAML.parse(a)) === JSON.stringify(YAML.parse(b));
  } catch {
    return false;
  }
}
const str = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/**
 * Fields of an existing version that differ from what this stack would register; [] means "the same asset".
 * Only the fields that define the content are compared, and only fields we send: the service adds its own
 * (flavors, provisioningState...) and rewrites others. Components are accepted as they are: their version is
 * derived from the spec, and the service rewrites componentSpec on the way back (azure-ml-notes: "compare
 * inputs, not the returned body").
 */
const asText = (f: (s: string) => string) => (a: unknown, b: unknown) => typeof a === "string" && typeof b === "string" && f(a) === f(b);

/** Per kind, the fields that define a version's content, and how two values of each are compared. */
const CONTENT: Record<AssetKind, Record<string, (a: unknown, b: unknown) => boolean>> = {
  models: { modelUri: asText(uriKey), modelType: asText(modelTypeKey) },
  codes: { codeUri: asText((s) => trimSlash(s.trim())) },
  environments: { image: asText((s) => s.trim()), condaFile: sameConda },
  components: {},
};

/** The names of the fields that define a version's content (what `contentDifferences` compares). */
export function contentFields(kind: AssetKind): string[] {
  return Object.keys(CONTENT[kind]);
}

export function contentDifferences(kind: AssetKind, wanted: AssetProperties, existing: Record<string, unknown>): string[] {
  return Object.entries(CONTENT[kind])
    .filter(([key, same]) => !same(wanted[key], existing[key]))
    .map(([key]) => `${key}: registered ${str(existing[key])}, this stack has ${str(wanted[key])}`);
}

// ---- registration and deletion ---------------------------------------------------------------------------

export interface EnsureResult {
  /** ARM id of the version (what pinned references name). */
  readonly id: string;
  /** True when this call registered it; false when it adopted a version that was already there. */
  readonly created: boolean;
}

async function adoptOrRefuse(api: AssetApi, ref: AssetRef, properties: AssetProperties): Promise<EnsureResult | undefined> {
  const existing = await api.get(ref);
  if (!existing) return undefined;
  const differences = contentDifferences(ref.kind, properties, existing);
  if (differences.length > 0) {
    throw new AssetVersionError(
      `${describeAsset(ref)} already exists with different content (${differences.join("; ")}). Versions are ` +
        `immutable and derived from content, so this means someone registered ${ref.name} version ${ref.version} by other means. ` +
        `Archive or delete that version in the workspace, or rename the asset, then run pulumi up again.`,
    );
  }
  return { id: assetVersionId(ref, ref.kind, ref.name, ref.version), created: false };
}

/**
 * Makes sure the version exists with this content: adopts an identical existing version (no PUT), registers it
 * when absent (the service creates the container with the first version), refuses one with other content.
 */
export async function ensureAssetVersion(api: AssetApi, ref: AssetRef, properties: AssetProperties): Promise<EnsureResult> {
  const adopted = await adoptOrRefuse(api, ref, properties);
  if (adopted) return adopted;
  // Only 201 means this PUT made the version. A 200 means it was already there when the PUT arrived: someone
  // registered it between our GET and PUT (two stacks deploying the same content at once), and a repeat PUT must
  // not make this stack its owner (the owner may delete it). 409 is the same race, refused instead of accepted.
  if ((await api.put(ref, properties)) === "created") return { id: assetVersionId(ref, ref.kind, ref.name, ref.version), created: true };
  const raced = await adoptOrRefuse(api, ref, properties);
  if (raced) return raced;
  throw new AssetVersionError(`${describeAsset(ref)}: the service said it exists, then that it does not; run pulumi up again.`);
}

// ---- what the workspace's deployments use ------------------------------------------------------------------

/** The reads that tell which versions the workspace's batch deployments use. */
export interface UsageApi {
  /** Every batch deployment in the workspace with the asset its configuration names (a pipeline component version). */
  deployments(ws: WorkspaceRef): Promise<{ readonly name: string; readonly assetId?: string }[]>;
  /** A component version's JSON as the service returns it, or undefined when it does not exist. */
  componentText(armId: string): Promise<string | undefined>;
}

const VERSION_ID = /\/subscriptions\/[^/"\s]+\/resourcegroups\/[^/"\s]+\/providers\/microsoft\.machinelearningservices\/workspaces\/[^/"\s]+\/(models|codes|environments|components)\/[^/"\s]+\/versions\/[^/"\s]+/gi;

/**
 * Which deployment uses each version (ARM ids in lower case): the pipeline component version a deployment runs,
 * and, through the component specs, every component, model, code and environment version they name.
 */
export async function versionsInUse(usage: UsageApi, ws: WorkspaceRef): Promise<Map<string, string>> {
  const used = new Map<string, string>();
  // ARM ids as found (ARM paths are case-insensitive, but read them as written); keys in lower case.
  const queue: [string, string][] = [];
  for (const d of await usage.deployments(ws)) {
    if (d.assetId) queue.push([d.assetId.replace(/^azureml:/, ""), d.name]);
  }
  while (queue.length > 0) {
    const [id, by] = queue.shift()!;
    const key = id.toLowerCase();
    if (used.has(key)) continue;
    used.set(key, by);
    if (!/\/components\//i.test(id)) continue;
    const text = await usage.componentText(id);
    for (const ref of text?.match(VERSION_ID) ?? []) {
      if (!used.has(ref.toLowerCase())) queue.push([ref, by]);
    }
  }
  return used;
}

/** Deletes the version; "absent" when it was already gone. */
export async function deleteAssetVersion(api: AssetApi, ref: AssetRef): Promise<"deleted" | "absent"> {
  return (await api.delete(ref)) ? "deleted" : "absent";
}

// ---- the ARM edge ----------------------------------------------------------------------------------------

/** A clear error for a failed call, naming the version, the status, the service's message and what to do. */
export function callError(action: string, ref: AssetRef, status: number, bodyText?: string): AssetVersionError {
  const said = serviceMessage(bodyText);
  const detail = `HTTP ${status}${said ? `, ${said}` : ""}`;
  const hint =
    status === 401
      ? "Sign in again (az login, or the ARM_* / OIDC variables) and rerun."
      : status === 403
        ? `The identity running pulumi needs a role that can write ${SINGULAR[ref.kind]} versions on the workspace (e.g. AzureML Data Scientist or Contributor).`
        : status >= 500 || status === 429
          ? "The service kept failing after retries; run pulumi up again later."
          : "The service's message says what it refused.";
  return new AssetVersionError(`could not ${action} ${describeAsset(ref)} (${detail}). ${hint}`);
}

/**
 * The API through the shared ARM client's pipeline (lib/armRequest.ts). A plain GET/PUT/DELETE rather than the
 * SDK's typed modelVersions/... operations: one code path for the four kinds, and the body goes out exactly as
 * built (the 2022-10-01 SDK models would pass it through a serializer that drops any field it does not know).
 */
export function armAssetApi(client: AzureMachineLearningWorkspaces): AssetApi {
  const send = (method: ArmMethod, ref: AssetRef, body?: unknown) => {
    countCall("arm-asset");
    return armRequest(client, method, assetVersionId(ref, ref.kind, ref.name, ref.version), body === undefined ? {} : { body });
  };
  return {
    async get(ref) {
      const r = await send("GET", ref);
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw callError("read", ref, r.status, r.text);
      const body = jsonOf(r);
      if (!body || typeof body !== "object") throw new AssetVersionError(`could not read ${describeAsset(ref)}: the service answered 200 with a body that is not JSON.`);
      return (body as { properties?: Record<string, unknown> }).properties ?? {};
    },
    async put(ref, properties) {
      const r = await send("PUT", ref, { properties });
      // Synchronous: the 2025-12-01 spec (Workspace/{Model,Code,Environment,Component}Version/createOrUpdate.json)
      // answers 201 Created or 200 (an existing version updated) with the version body, no LRO headers.
      if (r.status === 201) return "created";
      if (r.status === 200) return "updated";
      // [unconfirmed: the status a PUT gets when the version was registered meanwhile and is refused; 409 Conflict is ARM's usual one]
      if (r.status === 409) return "exists";
      throw callError("register", ref, r.status, r.text);
    },
    async delete(ref) {
      const r = await send("DELETE", ref);
      if (r.status === 404) return false;
      if (r.status === 200 || r.status === 202 || r.status === 204) return true;
      throw callError("delete", ref, r.status, r.text);
    },
  };
}

/** Lists follow `nextLink` (the ARM paging the spec declares for batch endpoints and deployments). */
async function listAll(client: AzureMachineLearningWorkspaces, path: string, what: string): Promise<any[]> {
  const items: any[] = [];
  let next: string | undefined = path;
  while (next) {
    countCall("arm-asset");
    const r = await armRequest(client, "GET", next);
    if (r.status === 404) return items;
    if (r.status !== 200) throw new AssetVersionError(`could not list ${what} (HTTP ${r.status}${r.text ? `, ${serviceMessage(r.text)}` : ""}).`);
    const page = jsonOf(r) ?? {};
    items.push(...(Array.isArray(page.value) ? page.value : []));
    next = typeof page.nextLink === "string" && page.nextLink ? page.nextLink : undefined;
  }
  return items;
}

export function armUsageApi(client: AzureMachineLearningWorkspaces): UsageApi {
  return {
    async deployments(ws) {
      const out: { name: string; assetId?: string }[] = [];
      for (const ep of await listAll(client, `${workspaceId(ws)}/batchEndpoints`, `the batch endpoints of workspace ${ws.workspaceName}`)) {
        const deployments = await listAll(client, `${workspaceId(ws)}/batchEndpoints/${ep.name}/deployments`, `the deployments of batch endpoint ${ep.name}`);
        for (const d of deployments) {
          out.push({ name: `${ep.name}/${d.name}`, assetId: d.properties?.deploymentConfiguration?.componentId?.assetId });
        }
      }
      return out;
    },
    async componentText(armId) {
      countCall("arm-asset");
      const r = await armRequest(client, "GET", armId);
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw new AssetVersionError(`could not read ${armId} (HTTP ${r.status}${r.text ? `, ${serviceMessage(r.text)}` : ""}).`);
      return r.text;
    },
  };
}
