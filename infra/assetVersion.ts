/**
 * One immutable asset version in the workspace (model, code, environment or component version), registered
 * idempotently by lib/assetVersions.ts:
 *  - create: GET the version; absent → PUT it; present with the same content → adopt it (`created: false`, nothing
 *    sent); present with other content → fail, naming both. `created` (this stack registered it, and so may delete
 *    it) is true only when the PUT answered 201 Created: a 200 or 409 means someone registered it between the GET
 *    and the PUT, and it is adopted after the same content check.
 *  - diff (the only thing preview runs; pure): another workspace, kind, name or version → replace, the new one
 *    created before the old one is deleted; other `properties` (a description) or `retainOnDestroy` → update.
 *  - update: `retainOnDestroy` alone → no call. Other properties: the content fields cannot change under one version
 *    (the version is derived from them), so a change there is refused; other fields are written only to a version
 *    this stack registered, never to an adopted one. A version deleted by hand is registered again.
 *  - read (refresh): gone → dropped from the state, registered again by the next up; other content under the same
 *    version (deleted and re-registered by hand) → drift, which the next up refuses with both values named.
 *  - delete: nothing when `retainOnDestroy`; otherwise only a version this resource registered (`created`), only
 *    when it still holds the content this stack registered, and only when no batch deployment in the workspace uses
 *    it (directly, or through the component specs it runs: another stack that adopted it); already gone is done. A replacement of a version
 *    by itself (`pulumi up --replace`) creates the new resource first, which adopts the same version: the old
 *    resource's delete, later in the same run, must not delete it, so every create or update records the versions it
 *    holds in this provider process and delete leaves those. (A run that fails between the two and leaves the old
 *    resource pending deletion would still delete it in a later run: keep retainAssetsOnDestroy where that matters.)
 * Several stacks in one workspace (per-PR stacks, dev and prod) share the versions of identical content: keep
 * them retained there (retainAssetsOnDestroy, the default). With retainAssetsOnDestroy false, a version another
 * stack adopted is kept as long as one of that stack's deployments uses it; a use without a deployment (a stack
 * whose deployment is not created yet, a job started by hand) cannot be seen.
 */
import * as pulumi from "@pulumi/pulumi";
import { azureCredential } from "../lib/azureCredential";
import { createArmClient } from "../lib/armClient";
import {
  ASSET_KINDS,
  AssetApi,
  AssetProperties,
  AssetRef,
  AssetVersionError,
  armAssetApi,
  contentDifferences,
  contentFields,
  deleteAssetVersion,
  describeAsset,
  ensureAssetVersion,
  UsageApi,
  armUsageApi,
  versionsInUse,
} from "../lib/assetVersions";
import { AssetKind, assetVersionId, canonicalJson, WorkspaceRef } from "../lib/naming";

export interface AssetVersionInputs extends WorkspaceRef {
  /** models | codes | environments | components: the ARM collection, and how policies tell these apart. */
  readonly assetKind: AssetKind;
  readonly name: string;
  readonly version: string;
  /** The ARM body's `properties`, sent as is. */
  readonly properties: AssetProperties;
  /** Leave the version in the workspace on destroy (see the module comment). */
  readonly retainOnDestroy: boolean;
}

export interface AssetVersionOutputs extends AssetVersionInputs {
  /** ARM id of the version (also the resource's Pulumi id). */
  readonly armId: string;
  /** Whether this resource registered the version (and so may delete it). */
  readonly created: boolean;
}

export interface AssetVersionSeams {
  assets(ws: WorkspaceRef): AssetApi;
  /** What the workspace's deployments use, read before a delete (no check when absent). */
  usage?(ws: WorkspaceRef): UsageApi;
}

export const REPLACE_ON_CHANGE: readonly (keyof AssetVersionInputs)[] = ["subscriptionId", "resourceGroupName", "workspaceName", "assetKind", "name", "version"];

export function diffAssetVersion(olds: AssetVersionInputs, news: AssetVersionInputs): pulumi.dynamic.DiffResult {
  const replaces = REPLACE_ON_CHANGE.filter((k) => olds[k] !== news[k]);
  const changes = replaces.length > 0 || olds.retainOnDestroy !== news.retainOnDestroy || !sameProperties(olds.properties, news.properties);
  return { changes, replaces, deleteBeforeReplace: false };
}

/** Properties compared as data (key order does not matter). */
export function sameProperties(a: AssetProperties | undefined, b: AssetProperties | undefined): boolean {
  return canonicalJson(a ?? {}) === canonicalJson(b ?? {});
}

/** Pure: the inputs have the shape the provider needs (unknowns in preview pass as they are). */
export function checkAssetVersion(news: Record<string, unknown>): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  for (const k of ["subscriptionId", "resourceGroupName", "workspaceName", "name", "version"]) {
    if (typeof news[k] !== "string" || (news[k] as string).trim() === "") failures.push({ property: k, reason: `${k} must be a non-empty string` });
  }
  if (!ASSET_KINDS.includes(news.assetKind as AssetKind)) failures.push({ property: "assetKind", reason: `assetKind must be one of ${ASSET_KINDS.join(", ")}` });
  if (typeof news.properties !== "object" || news.properties === null || Array.isArray(news.properties)) {
    failures.push({ property: "properties", reason: "properties must be an object (the ARM body's properties)" });
  }
  if (typeof news.retainOnDestroy !== "boolean") failures.push({ property: "retainOnDestroy", reason: "retainOnDestroy must be true or false" });
  return failures;
}

function refOf(i: AssetVersionInputs): AssetRef {
  return { subscriptionId: i.subscriptionId, resourceGroupName: i.resourceGroupName, workspaceName: i.workspaceName, kind: i.assetKind, name: i.name, version: i.version };
}

/** The state after a refresh: our record, with the content fields the workspace really holds when they differ. */
function refreshed(olds: AssetVersionOutputs, live: Record<string, unknown>): AssetVersionOutputs {
  if (contentDifferences(olds.assetKind, olds.properties, live).length === 0) return olds;
  const actual = Object.fromEntries(contentFields(olds.assetKind).map((k) => [k, live[k]]));
  return { ...olds, properties: { ...olds.properties, ...actual } };
}

/**
 * ARM ids (lower case) a create or update in this process holds: shared by every copy of the provider the dynamic
 * provider host deserializes in one run (old and new resources may carry different provider texts).
 */
function heldThisRun(): Set<string> {
  const g = globalThis as { __heartScoringHeldAssetVersions?: Set<string> };
  return (g.__heartScoringHeldAssetVersions ??= new Set<string>());
}

/** Forgets what this process holds: a new `pulumi up` is a new provider process (tests that play several runs in one process call this). */
export function startOfRun(): void {
  heldThisRun().clear();
}

export function makeAssetVersionProvider(seams: AssetVersionSeams): pulumi.dynamic.ResourceProvider {
  const register = async (inputs: AssetVersionInputs): Promise<AssetVersionOutputs> => {
    const ref = refOf(inputs);
    const { id, created } = await ensureAssetVersion(seams.assets(ref), ref, inputs.properties);
    heldThisRun().add(id.toLowerCase());
    return { ...inputs, armId: id, created };
  };
  return {
    async check(_olds: AssetVersionInputs, news: AssetVersionInputs) {
      const failures = checkAssetVersion(news as unknown as Record<string, unknown>);
      return failures.length > 0 ? { failures } : { inputs: news };
    },
    async diff(_id: string, olds: AssetVersionOutputs, news: AssetVersionInputs) {
      return diffAssetVersion(olds, news);
    },
    async create(inputs: AssetVersionInputs) {
      const outs = await register(inputs);
      return { id: outs.armId, outs };
    },
    async update(_id: string, olds: AssetVersionOutputs, news: AssetVersionInputs) {
      if (sameProperties(olds.properties, news.properties)) {
        // retainOnDestroy alone: nothing to tell Azure.
        const outs: AssetVersionOutputs = { ...news, armId: olds.armId, created: olds.created };
        return { outs };
      }
      const ref = refOf(news);
      const api = seams.assets(ref);
      const live = await api.get(ref);
      // Deleted by hand since the last refresh: register it again.
      if (!live) return { outs: await register(news) };
      const differences = contentDifferences(news.assetKind, news.properties, live);
      if (differences.length > 0) {
        throw new AssetVersionError(
          `${describeAsset(ref)} holds other content than this stack registers under that version (${differences.join("; ")}). ` +
            `Versions are immutable and derived from content, so it was changed outside this stack. Archive or delete that version ` +
            `in the workspace (or rename the asset), then run pulumi refresh and pulumi up.`,
        );
      }
      // Same content, other descriptive fields: written only to a version this stack registered.
      if (olds.created) {
        const outcome = await api.put(ref, news.properties);
        if (outcome === "exists") throw new AssetVersionError(`${describeAsset(ref)}: the service refused to update its description or flags (409).`);
      }
      const outs: AssetVersionOutputs = { ...news, armId: olds.armId, created: olds.created };
      return { outs };
    },
    async read(id: string, olds: AssetVersionOutputs) {
      const ref = refOf(olds);
      const live = await seams.assets(ref).get(ref);
      if (!live) return { id: "", props: {} };
      return { id, props: refreshed(olds, live) };
    },
    async delete(_id: string, olds: AssetVersionOutputs) {
      if (olds.retainOnDestroy || !olds.created) return;
      // Its replacement (the same version) was created earlier in this run and holds it now.
      if (olds.armId && heldThisRun().has(olds.armId.toLowerCase())) return;
      const ref = refOf(olds);
      const api = seams.assets(ref);
      const live = await api.get(ref);
      // Gone already, or no longer the content this stack registered (replaced by hand): not ours to delete.
      if (!live || contentDifferences(olds.assetKind, olds.properties, live).length > 0) return;
      // Used by a deployment (this stack's are gone by now: they depend on their versions), directly or through a
      // component spec: another stack adopted it. Leave it.
      if (seams.usage && (await versionsInUse(seams.usage(ref), ref)).has(assetVersionId(ref, ref.kind, ref.name, ref.version).toLowerCase())) return;
      await deleteAssetVersion(api, ref);
    },
  };
}

export const azureAssetVersionSeams: AssetVersionSeams = {
  assets: (ws) => armAssetApi(createArmClient(azureCredential(), ws)),
  usage: (ws) => armUsageApi(createArmClient(azureCredential(), ws)),
};

/** One provider object for every asset version, so Pulumi serializes it once (its cache is keyed by identity). */
const assetVersionProvider = makeAssetVersionProvider(azureAssetVersionSeams);

export type WorkspaceAssetVersionArgs = { readonly [K in keyof AssetVersionInputs]: pulumi.Input<AssetVersionInputs[K]> };

/** Every version this stack registers is named and listed (not anonymous, not archived), as azure-native sent by default. */
export const LISTED = { isAnonymous: false, isArchived: false } as const;

export const ASSET_VERSION_TYPE = "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion";

export class WorkspaceAssetVersion extends pulumi.dynamic.Resource {
  declare readonly armId: pulumi.Output<string>;
  declare readonly created: pulumi.Output<boolean>;

  constructor(name: string, args: WorkspaceAssetVersionArgs, opts?: pulumi.CustomResourceOptions) {
    super(assetVersionProvider, name, { ...args, armId: undefined, created: undefined }, opts, "heartscoring", "WorkspaceAssetVersion");
  }
}
