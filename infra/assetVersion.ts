/**
 * One immutable asset version in the workspace (model, code, environment or component version), registered
 * idempotently by lib/assetVersions.ts:
 *  - create: GET the version; absent → PUT it (`created: true`); present with the same content → adopt it
 *    (`created: false`, nothing sent); present with other content → fail, naming both.
 *  - diff (the only thing preview runs; pure): another workspace, kind, name or version → replace, the new one
 *    created before the old one is deleted; `retainOnDestroy` → update, with no Azure call. The body never
 *    changes under one version (the version is derived from it), except fields outside the content such as a
 *    description, which an immutable version cannot take anyway: those are not a change.
 *  - delete: nothing when `retainOnDestroy`; otherwise DELETE, but only a version this resource registered
 *    (`created`), never one adopted from another stack or person; already gone counts as done.
 * Several stacks in one workspace (per-PR stacks, dev and prod) share the versions of identical content: keep
 * them retained there (retainAssetsOnDestroy, the default), or the stack that registered a version may delete
 * it from under another that adopted it.
 */
import * as pulumi from "@pulumi/pulumi";
import { DefaultAzureCredential } from "@azure/identity";
import { createArmClient } from "../lib/armClient";
import { AssetApi, AssetProperties, AssetRef, armAssetApi, deleteAssetVersion, ensureAssetVersion } from "../lib/assetVersions";
import type { AssetKind, WorkspaceRef } from "../lib/naming";

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
}

export const REPLACE_ON_CHANGE: readonly (keyof AssetVersionInputs)[] = ["subscriptionId", "resourceGroupName", "workspaceName", "assetKind", "name", "version"];

export function diffAssetVersion(olds: AssetVersionInputs, news: AssetVersionInputs): pulumi.dynamic.DiffResult {
  const replaces = REPLACE_ON_CHANGE.filter((k) => olds[k] !== news[k]);
  const changes = replaces.length > 0 || olds.retainOnDestroy !== news.retainOnDestroy;
  return { changes, replaces, deleteBeforeReplace: false };
}

function refOf(i: AssetVersionInputs): AssetRef {
  return { subscriptionId: i.subscriptionId, resourceGroupName: i.resourceGroupName, workspaceName: i.workspaceName, kind: i.assetKind, name: i.name, version: i.version };
}

export function makeAssetVersionProvider(seams: AssetVersionSeams): pulumi.dynamic.ResourceProvider {
  return {
    async diff(_id: string, olds: AssetVersionOutputs, news: AssetVersionInputs) {
      return diffAssetVersion(olds, news);
    },
    async create(inputs: AssetVersionInputs) {
      const ref = refOf(inputs);
      const { id, created } = await ensureAssetVersion(seams.assets(ref), ref, inputs.properties);
      const outs: AssetVersionOutputs = { ...inputs, armId: id, created };
      return { id, outs };
    },
    async update(_id: string, olds: AssetVersionOutputs, news: AssetVersionInputs) {
      // Only retainOnDestroy (or a field outside the content) reaches here: nothing to tell Azure.
      const outs: AssetVersionOutputs = { ...news, armId: olds.armId, created: olds.created };
      return { outs };
    },
    async delete(_id: string, olds: AssetVersionOutputs) {
      if (olds.retainOnDestroy || !olds.created) return;
      const ref = refOf(olds);
      await deleteAssetVersion(seams.assets(ref), ref);
    },
  };
}

export const azureAssetVersionSeams: AssetVersionSeams = {
  assets: (ws) => armAssetApi(createArmClient(new DefaultAzureCredential(), ws)),
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
