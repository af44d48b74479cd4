/**
 * The endpoint's default deployment, as its own small resource. It cannot be an input of the endpoint: the
 * endpoint must exist before the deployment, and the deployment before the pointer (a cycle), and the
 * service may refuse a default that names no existing deployment [unconfirmed]. So it writes the one field itself:
 *  - GET the endpoint as raw JSON with its ETag, PUT the same JSON back with only `properties.defaults.deploymentName`
 *    (and the owner tag below) changed, `If-Match: <ETag>`; on 412 (someone wrote in between) read again and retry,
 *    a bounded number of times. PATCH cannot do it: the batch endpoint PATCH body (PartialMinimalTrackedResource-
 *    WithIdentity) carries only identity, kind, sku and tags. The body is never passed through the SDK's models,
 *    which are older than the API version and drop fields they do not know.
 *  - Ownership: every create draws a fresh owner token, kept in the state and written with the default as the
 *    endpoint tag `heart-scoring-default-owner`. Delete clears the default only when the endpoint still points at
 *    this resource's deployment AND the tag names this resource (or no one). That is what makes a replacement safe
 *    in either order the engine may run it: create-before-delete (`pulumi up --replace`, the default) creates the new
 *    pointer first, which re-writes the tag, so the old one's delete finds a newer owner and leaves the default
 *    alone; delete-before-replace clears, then the new create sets it again. A pointer moved to another endpoint
 *    releases only the old endpoint. A default someone else chose (Studio) is never cleared.
 *  - delete clears before Pulumi deletes the deployment (this resource depends on it, so it is deleted first): a
 *    deployment that is still the default probably cannot be deleted [unconfirmed].
 *  - read (refresh): the endpoint's current default. A default changed in Studio shows as drift, and the next up
 *    puts it back (an update); a deleted endpoint shows the pointer as gone.
 * The endpoint resource ignores changes to `properties.defaults` and the owner tag, so a refresh or re-run never
 * fights this. `endpointRevision` (a hash of the endpoint's own inputs) makes this re-apply after any update of the
 * endpoint, in case the service's full PUT resets `defaults` [unconfirmed].
 */
import { randomUUID } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import type { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";
import { azureCredential } from "../lib/azureCredential";
import { createArmClient } from "../lib/armClient";
import { armRequest, ArmAnswer, jsonOf, serviceMessage } from "../lib/armRequest";
import { countCall } from "../lib/callStats";
import type { WorkspaceRef } from "../lib/naming";

export interface DefaultDeploymentInputs extends WorkspaceRef {
  readonly endpointName: string;
  readonly deploymentName: string;
  readonly endpointRevision: string;
}

export interface DefaultDeploymentOutputs extends DefaultDeploymentInputs {
  /** This resource's token, written as the endpoint's owner tag with the default (absent in older state). */
  readonly owner?: string;
}

/** The endpoint tag naming the pointer resource that last set the default. */
export const OWNER_TAG = "heart-scoring-default-owner";
/** How often a write is retried after 412 Precondition Failed before giving up. */
export const MAX_WRITE_ATTEMPTS = 5;

/** The endpoint as the service returned it: raw JSON, and its ETag (undefined when the service sent none). */
export interface EndpointDocument {
  readonly body: any;
  readonly etag?: string;
}

/** The two calls this needs, so tests can put a fake service behind them. */
export interface EndpointApi {
  get(ws: WorkspaceRef, endpointName: string): Promise<EndpointDocument | undefined>;
  /** PUT the whole endpoint, `If-Match: etag` when given; "conflict" when the service answers 412. */
  put(ws: WorkspaceRef, endpointName: string, body: any, etag: string | undefined): Promise<"done" | "conflict">;
}

export interface DefaultDeploymentSeams {
  endpoints(ws: WorkspaceRef): EndpointApi;
  /** A fresh owner token per create. */
  newOwner?(): string;
}

const IDENTITY: readonly (keyof DefaultDeploymentInputs)[] = ["subscriptionId", "resourceGroupName", "workspaceName", "endpointName"];
const REQUIRED: readonly (keyof DefaultDeploymentInputs)[] = [...IDENTITY, "deploymentName"];

/** Pure: another endpoint (or workspace) replaces; another deployment or endpoint revision updates. */
export function diffDefaultDeployment(olds: DefaultDeploymentInputs, news: DefaultDeploymentInputs): pulumi.dynamic.DiffResult {
  const keys: (keyof DefaultDeploymentInputs)[] = [...IDENTITY, "deploymentName", "endpointRevision"];
  const changed = keys.filter((k) => olds[k] !== news[k]);
  return { changes: changed.length > 0, replaces: IDENTITY.filter((k) => olds[k] !== news[k]), deleteBeforeReplace: false };
}

/** Pure: every name is a non-empty string (unknowns in preview pass as they are). */
export function checkDefaultDeployment(news: Record<string, unknown>): pulumi.dynamic.CheckFailure[] {
  return REQUIRED.filter((k) => typeof news[k] !== "string" || (news[k] as string).trim() === "").map((k) => ({
    property: k,
    reason: `${k} must be a non-empty string`,
  }));
}

/** The endpoint's current default deployment ("" when none). */
export function currentDefault(endpoint: any): string {
  const d = endpoint?.properties?.defaults?.deploymentName;
  return typeof d === "string" ? d : "";
}

function ownerTagOf(endpoint: any): string | undefined {
  const t = endpoint?.tags?.[OWNER_TAG];
  return typeof t === "string" ? t : undefined;
}

/**
 * The endpoint JSON to PUT back: exactly what the GET returned, with only `properties.defaults.deploymentName`
 * set (or removed when `deploymentName` is undefined) and the owner tag set (or removed).
 */
export function withDefault(endpoint: any, deploymentName: string | undefined, owner: string | undefined): any {
  const next = JSON.parse(JSON.stringify(endpoint));
  next.properties = next.properties ?? {};
  const defaults = { ...(next.properties.defaults ?? {}) };
  if (deploymentName) defaults.deploymentName = deploymentName;
  else delete defaults.deploymentName;
  next.properties.defaults = defaults;
  const tags = { ...(next.tags ?? {}) };
  if (owner) tags[OWNER_TAG] = owner;
  else delete tags[OWNER_TAG];
  next.tags = tags;
  return next;
}

function wsOf(i: WorkspaceRef): WorkspaceRef {
  return { subscriptionId: i.subscriptionId, resourceGroupName: i.resourceGroupName, workspaceName: i.workspaceName };
}

/**
 * Read-decide-write with the ETag: `decide` returns the body to PUT, or undefined when nothing needs writing.
 * "absent" when the endpoint does not exist. On 412 it reads again and decides again.
 */
async function writeEndpoint(api: EndpointApi, ws: WorkspaceRef, endpointName: string, decide: (endpoint: any) => any): Promise<"absent" | "unchanged" | "written"> {
  for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
    const doc = await api.get(ws, endpointName);
    if (!doc) return "absent";
    const next = decide(doc.body);
    if (next === undefined) return "unchanged";
    if ((await api.put(ws, endpointName, next, doc.etag)) === "done") return "written";
  }
  throw new Error(
    `batch endpoint ${endpointName} in workspace ${ws.workspaceName} kept changing while its default deployment was being set ` +
      `(${MAX_WRITE_ATTEMPTS} attempts answered 412 Precondition Failed); something else is writing it. Run pulumi up again once it is done.`,
  );
}

export function makeDefaultDeploymentProvider(seams: DefaultDeploymentSeams): pulumi.dynamic.ResourceProvider {
  const newOwner = () => (seams.newOwner ? seams.newOwner() : randomUUID());
  /** Points the endpoint at the deployment and names `owner` as the pointer that did it. */
  const claim = async (inputs: DefaultDeploymentInputs, owner: string) => {
    const ws = wsOf(inputs);
    const result = await writeEndpoint(seams.endpoints(ws), ws, inputs.endpointName, (endpoint) =>
      currentDefault(endpoint) === inputs.deploymentName && ownerTagOf(endpoint) === owner ? undefined : withDefault(endpoint, inputs.deploymentName, owner),
    );
    if (result === "absent") {
      throw new Error(`batch endpoint ${inputs.endpointName} not found in workspace ${inputs.workspaceName}; cannot set its default deployment`);
    }
  };
  return {
    async check(_olds: DefaultDeploymentInputs, news: DefaultDeploymentInputs) {
      const failures = checkDefaultDeployment(news as unknown as Record<string, unknown>);
      return failures.length > 0 ? { failures } : { inputs: news };
    },
    async diff(_id: string, olds: DefaultDeploymentOutputs, news: DefaultDeploymentInputs) {
      return diffDefaultDeployment(olds, news);
    },
    async create(inputs: DefaultDeploymentInputs) {
      const owner = newOwner();
      await claim(inputs, owner);
      const outs: DefaultDeploymentOutputs = { ...inputs, owner };
      return { id: `${inputs.endpointName}/defaults`, outs };
    },
    async update(_id: string, olds: DefaultDeploymentOutputs, news: DefaultDeploymentInputs) {
      // State written before owners existed gets one now.
      const owner = olds.owner || newOwner();
      await claim(news, owner);
      const outs: DefaultDeploymentOutputs = { ...news, owner };
      return { outs };
    },
    async read(id: string, olds: DefaultDeploymentOutputs) {
      const doc = await seams.endpoints(wsOf(olds)).get(wsOf(olds), olds.endpointName);
      // No endpoint, no pointer: refresh drops it from the state and the next up sets it again.
      if (!doc) return { id: "", props: {} };
      const props: DefaultDeploymentOutputs = { ...olds, deploymentName: currentDefault(doc.body) };
      return { id, props };
    },
    async delete(_id: string, olds: DefaultDeploymentOutputs) {
      const ws = wsOf(olds);
      await writeEndpoint(seams.endpoints(ws), ws, olds.endpointName, (endpoint) => {
        // Another default (a switch, or Studio) is not ours to clear; nor is ours once a newer pointer claimed it.
        if (currentDefault(endpoint) !== olds.deploymentName) return undefined;
        const tag = ownerTagOf(endpoint);
        if (tag !== undefined && tag !== olds.owner) return undefined;
        return withDefault(endpoint, undefined, undefined);
      });
    },
  };
}

// ---- the ARM edge ----------------------------------------------------------------------------------------

const TERMINAL = new Set(["succeeded", "failed", "canceled", "cancelled"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function endpointPath(ws: WorkspaceRef, endpointName: string): string {
  return (
    `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroupName}/providers/Microsoft.MachineLearningServices` +
    `/workspaces/${ws.workspaceName}/batchEndpoints/${endpointName}`
  );
}

function endpointError(action: string, endpointName: string, answer: ArmAnswer): Error {
  const said = serviceMessage(answer.text);
  const hint =
    answer.status === 401
      ? "Sign in again (az login, or the ARM_* / OIDC variables) and rerun."
      : answer.status === 403
        ? "The identity running pulumi needs write access to the workspace's batch endpoints (e.g. AzureML Data Scientist or Contributor)."
        : "The service's message says what it refused.";
  return new Error(`could not ${action} batch endpoint ${endpointName} (HTTP ${answer.status}${said ? `, ${said}` : ""}). ${hint}`);
}

/** Seconds from Retry-After, within [0, 30]; 5 when absent. */
function retryAfterMs(answer: ArmAnswer): number {
  const s = Number(answer.header("retry-after"));
  return Number.isFinite(s) && s >= 0 ? Math.min(s, 30) * 1000 : 5000;
}

/**
 * The endpoint API over raw ARM requests. A PUT answered 201/202 is a long-running operation (the spec's
 * BatchEndpoints_CreateOrUpdate): poll Azure-AsyncOperation (or Location) until it ends, else the resource's
 * provisioningState; at most `maxWaitMs`.
 */
export function armEndpointApi(client: AzureMachineLearningWorkspaces, opts: { maxWaitMs?: number } = {}): EndpointApi {
  const maxWaitMs = opts.maxWaitMs ?? 15 * 60_000;
  const waitForOperation = async (endpointName: string, path: string, first: ArmAnswer) => {
    const started = Date.now();
    const operation = first.header("azure-asyncoperation") ?? first.header("location");
    let last = first;
    while (Date.now() - started < maxWaitMs) {
      await sleep(retryAfterMs(last));
      countCall("arm-endpoint");
      last = await armRequest(client, "GET", operation ?? path);
      if (last.status !== 200 && last.status !== 202) throw endpointError("follow the update of", endpointName, last);
      const body = jsonOf(last) ?? {};
      const state = String((operation ? body.status : body.properties?.provisioningState) ?? (last.status === 200 && !operation ? "Succeeded" : "")).toLowerCase();
      if (!TERMINAL.has(state)) continue;
      if (state === "succeeded") return;
      const err = body.error ? `${body.error.code ?? "Error"}: ${body.error.message ?? ""}` : state;
      throw new Error(`the update of batch endpoint ${endpointName} ended ${state} (${err}). Run pulumi up again; if it fails again, look at the endpoint in Studio.`);
    }
    throw new Error(`the update of batch endpoint ${endpointName} did not finish within ${Math.round(maxWaitMs / 60_000)} minutes; run pulumi refresh, then pulumi up.`);
  };
  return {
    async get(ws, endpointName) {
      countCall("arm-endpoint");
      const r = await armRequest(client, "GET", endpointPath(ws, endpointName));
      if (r.status === 404) return undefined;
      if (r.status !== 200) throw endpointError("read", endpointName, r);
      const body = jsonOf(r);
      if (!body || typeof body !== "object") throw new Error(`could not read batch endpoint ${endpointName}: the service answered 200 with a body that is not JSON.`);
      // ARM sends the ETag as a header; some resources also carry it in the body.
      const etag = r.header("etag") ?? (typeof body.etag === "string" ? body.etag : undefined);
      return { body, etag };
    },
    async put(ws, endpointName, body, etag) {
      countCall("arm-endpoint");
      const path = endpointPath(ws, endpointName);
      const r = await armRequest(client, "PUT", path, { body, headers: etag ? { "if-match": etag } : {} });
      if (r.status === 412) return "conflict";
      if (r.status === 200) return "done";
      if (r.status === 201 || r.status === 202) {
        await waitForOperation(endpointName, path, r);
        return "done";
      }
      throw endpointError("update", endpointName, r);
    },
  };
}

export const azureDefaultDeploymentSeams: DefaultDeploymentSeams = {
  endpoints: (ws) => armEndpointApi(createArmClient(azureCredential(), ws)),
};

const defaultDeploymentProvider = makeDefaultDeploymentProvider(azureDefaultDeploymentSeams);

export type DefaultDeploymentArgs = { readonly [K in keyof DefaultDeploymentInputs]: pulumi.Input<DefaultDeploymentInputs[K]> };

/** Points the endpoint's default at a deployment; see the module comment for replacement and destroy. */
export class DefaultDeployment extends pulumi.dynamic.Resource {
  declare readonly deploymentName: pulumi.Output<string>;
  declare readonly endpointName: pulumi.Output<string>;

  constructor(name: string, args: DefaultDeploymentArgs, opts?: pulumi.CustomResourceOptions) {
    super(defaultDeploymentProvider, name, { ...args, owner: undefined }, opts, "heartscoring", "DefaultDeployment");
  }
}
