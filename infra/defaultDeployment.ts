/**
 * The endpoint's default deployment, as its own small resource. It cannot be an input of the endpoint: the
 * endpoint must exist before the deployment, and the deployment before the pointer (a cycle), and the
 * service may refuse a default that names no existing deployment [unconfirmed]. So:
 *  - create/update: GET the endpoint, PUT it back with `properties.defaults.deploymentName` set. PATCH cannot
 *    do it: the batch endpoint PATCH body (PartialMinimalTrackedResourceWithIdentity) carries only identity,
 *    kind, sku and tags.
 *  - delete: clear the pointer if it still names this deployment, before Pulumi deletes the deployment (this
 *    resource depends on the deployment, so it is deleted first). A deployment that is still the default
 *    probably cannot be deleted [unconfirmed].
 * The endpoint resource ignores changes to `properties.defaults`, so a refresh or re-run never fights this.
 * `endpointRevision` (a hash of the endpoint's own inputs) makes this re-apply after any update of the
 * endpoint, in case the service's full PUT resets `defaults` [unconfirmed].
 */
import * as pulumi from "@pulumi/pulumi";
import type { AzureMachineLearningWorkspaces, BatchEndpoint } from "@azure/arm-machinelearning";
import { DefaultAzureCredential } from "@azure/identity";
import { createArmClient } from "../lib/armClient";
import { countCall } from "../lib/callStats";
import type { WorkspaceRef } from "../lib/naming";

export interface DefaultDeploymentInputs extends WorkspaceRef {
  readonly endpointName: string;
  readonly deploymentName: string;
  readonly endpointRevision: string;
}

/** The two calls this needs, so tests can put a fake service (or a fake client) behind them. */
export interface EndpointApi {
  get(ws: WorkspaceRef, endpointName: string): Promise<BatchEndpoint | undefined>;
  put(ws: WorkspaceRef, endpointName: string, body: BatchEndpoint): Promise<void>;
}

export interface DefaultDeploymentSeams {
  endpoints(ws: WorkspaceRef): EndpointApi;
}

const IDENTITY: readonly (keyof DefaultDeploymentInputs)[] = ["subscriptionId", "resourceGroupName", "workspaceName", "endpointName"];

export function diffDefaultDeployment(olds: DefaultDeploymentInputs, news: DefaultDeploymentInputs): pulumi.dynamic.DiffResult {
  const keys: (keyof DefaultDeploymentInputs)[] = [...IDENTITY, "deploymentName", "endpointRevision"];
  const changed = keys.filter((k) => olds[k] !== news[k]);
  return { changes: changed.length > 0, replaces: IDENTITY.filter((k) => olds[k] !== news[k]), deleteBeforeReplace: false };
}

/** The endpoint body to PUT back: what the GET returned, with only `defaults` changed. */
export function withDefault(endpoint: BatchEndpoint, deploymentName: string | undefined): BatchEndpoint {
  const { defaults: _old, ...properties } = endpoint.properties;
  return {
    location: endpoint.location,
    ...(endpoint.tags ? { tags: endpoint.tags } : {}),
    ...(endpoint.identity ? { identity: endpoint.identity } : {}),
    ...(endpoint.kind ? { kind: endpoint.kind } : {}),
    ...(endpoint.sku ? { sku: endpoint.sku } : {}),
    properties: { ...properties, defaults: deploymentName ? { deploymentName } : {} },
  };
}

function wsOf(i: DefaultDeploymentInputs): WorkspaceRef {
  return { subscriptionId: i.subscriptionId, resourceGroupName: i.resourceGroupName, workspaceName: i.workspaceName };
}

export function makeDefaultDeploymentProvider(seams: DefaultDeploymentSeams): pulumi.dynamic.ResourceProvider {
  const point = async (inputs: DefaultDeploymentInputs) => {
    const api = seams.endpoints(wsOf(inputs));
    const endpoint = await api.get(wsOf(inputs), inputs.endpointName);
    if (!endpoint) throw new Error(`batch endpoint ${inputs.endpointName} not found in workspace ${inputs.workspaceName}; cannot set its default deployment`);
    if (endpoint.properties.defaults?.deploymentName !== inputs.deploymentName) {
      await api.put(wsOf(inputs), inputs.endpointName, withDefault(endpoint, inputs.deploymentName));
    }
  };
  return {
    async diff(_id: string, olds: DefaultDeploymentInputs, news: DefaultDeploymentInputs) {
      return diffDefaultDeployment(olds, news);
    },
    async create(inputs: DefaultDeploymentInputs) {
      await point(inputs);
      return { id: `${inputs.endpointName}/defaults`, outs: inputs };
    },
    async update(_id: string, _olds: DefaultDeploymentInputs, news: DefaultDeploymentInputs) {
      await point(news);
      return { outs: news };
    },
    async delete(_id: string, olds: DefaultDeploymentInputs) {
      const api = seams.endpoints(wsOf(olds));
      const endpoint = await api.get(wsOf(olds), olds.endpointName);
      // Only release our own pointer: after a switch another deployment may already be the default.
      if (endpoint && endpoint.properties.defaults?.deploymentName === olds.deploymentName) {
        await api.put(wsOf(olds), olds.endpointName, withDefault(endpoint, undefined));
      }
    },
  };
}

export function armEndpointApi(client: AzureMachineLearningWorkspaces): EndpointApi {
  return {
    async get(ws, endpointName) {
      countCall("arm-endpoint");
      try {
        return await client.batchEndpoints.get(ws.resourceGroupName, ws.workspaceName, endpointName);
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return undefined;
        throw e;
      }
    },
    async put(ws, endpointName, body) {
      countCall("arm-endpoint");
      await client.batchEndpoints.beginCreateOrUpdateAndWait(ws.resourceGroupName, ws.workspaceName, endpointName, body);
    },
  };
}

export const azureDefaultDeploymentSeams: DefaultDeploymentSeams = {
  endpoints: (ws) => armEndpointApi(createArmClient(new DefaultAzureCredential(), ws)),
};

const defaultDeploymentProvider = makeDefaultDeploymentProvider(azureDefaultDeploymentSeams);

export type DefaultDeploymentArgs = { readonly [K in keyof DefaultDeploymentInputs]: pulumi.Input<DefaultDeploymentInputs[K]> };

/** Points the endpoint's default at a deployment; see the module comment for ordering on destroy. */
export class DefaultDeployment extends pulumi.dynamic.Resource {
  declare readonly deploymentName: pulumi.Output<string>;
  declare readonly endpointName: pulumi.Output<string>;

  constructor(name: string, args: DefaultDeploymentArgs, opts?: pulumi.CustomResourceOptions) {
    super(defaultDeploymentProvider, name, { ...args }, opts, "heartscoring", "DefaultDeployment");
  }
}
