/** The batch endpoint as the scripts need it: scoring URI, default deployment, deployment names (ARM). */
import type { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";
import type { WorkspaceRef } from "../../../lib/armClient";
import { CliError, ExitCode } from "../exitCodes";
import { toCliError } from "./credential";

export interface EndpointInfo {
  readonly name: string;
  readonly scoringUri: string;
  readonly defaultDeployment?: string;
}

export async function getEndpoint(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, name: string, signal?: AbortSignal): Promise<EndpointInfo> {
  let res;
  try {
    res = await client.batchEndpoints.get(ws.resourceGroupName, ws.workspaceName, name, { abortSignal: signal });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) {
      throw new CliError(ExitCode.Usage, `batch endpoint '${name}' not found in workspace ${ws.workspaceName} (resource group ${ws.resourceGroupName}); check --endpoint / HEART_ENDPOINT_NAME or run pulumi up`);
    }
    throw toCliError(e, `reading batch endpoint ${name}`);
  }
  const p = (res.properties ?? {}) as { scoringUri?: string; defaults?: { deploymentName?: string }; provisioningState?: string };
  if (!p.scoringUri) {
    throw new CliError(ExitCode.Usage, `batch endpoint '${name}' has no scoring URI yet (provisioning state ${p.provisioningState ?? "unknown"}); wait for pulumi up to finish`);
  }
  return { name, scoringUri: p.scoringUri, defaultDeployment: p.defaults?.deploymentName || undefined };
}

export async function listDeploymentNames(client: AzureMachineLearningWorkspaces, ws: WorkspaceRef, endpoint: string, signal?: AbortSignal): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const d of client.batchDeployments.list(ws.resourceGroupName, ws.workspaceName, endpoint, { abortSignal: signal })) {
      if (d.name) names.push(d.name);
    }
  } catch (e) {
    throw toCliError(e, `listing deployments of endpoint ${endpoint}`);
  }
  return names.sort();
}

/** Picks the deployment to target: the one asked for (must exist) or the endpoint's default. */
export async function chooseDeployment(
  client: AzureMachineLearningWorkspaces,
  ws: WorkspaceRef,
  endpoint: EndpointInfo,
  asked: string | undefined,
  signal?: AbortSignal,
): Promise<{ name: string; explicit: boolean }> {
  if (asked) {
    const names = await listDeploymentNames(client, ws, endpoint.name, signal);
    if (!names.includes(asked)) {
      throw new CliError(
        ExitCode.Usage,
        `--deployment '${asked}' is not a deployment of endpoint ${endpoint.name}; known: ${names.length ? names.join(", ") : "(none)"}`,
      );
    }
    return { name: asked, explicit: true };
  }
  if (!endpoint.defaultDeployment) {
    throw new CliError(ExitCode.Usage, `endpoint ${endpoint.name} has no default deployment; give --deployment <name>`);
  }
  return { name: endpoint.defaultDeployment, explicit: false };
}
