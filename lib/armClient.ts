/**
 * The one place that builds the Azure ML control-plane (ARM) client, shared by the stack's dynamic providers
 * and the scripts, so the API version, the ARM endpoint and the token audience are decided once.
 */
import type { TokenCredential } from "@azure/core-auth";
import { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";
import type { WorkspaceRef } from "./naming";
import { CLOUDS, cloudFromEnv } from "./cloud";

/**
 * The ARM API version @pulumi/azure-native 3.x uses for every Machine Learning resource. The SDK package
 * (2.1.1) defaults to 2022-10-01; its models are older, but unknown response fields are passed through.
 */
export const ARM_API_VERSION = "2025-12-01";
export const DEFAULT_ARM_ENDPOINT = CLOUDS.AzureCloud.armEndpoint;
/**
 * The public cloud's ARM token audience. The client asks for its cloud's (lib/cloud.ts), explicitly: the SDK
 * would otherwise derive it from the endpoint, which breaks proxies and tests.
 */
export const ARM_SCOPE = CLOUDS.AzureCloud.armScope;

/** The workspace coordinates, defined once in lib/naming.ts. */
export type { WorkspaceRef };

export interface ArmClientOptions {
  /** @default env HEART_ARM_ENDPOINT, else the cloud's Resource Manager (lib/cloud.ts) */
  readonly endpoint?: string;
  /** @default ARM_API_VERSION */
  readonly apiVersion?: string;
  /** Extra retries on 429/5xx beyond the SDK's default (3). */
  readonly maxRetries?: number;
  readonly env?: NodeJS.ProcessEnv;
}

export function armEndpoint(opts: { endpoint?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const env = opts.env ?? process.env;
  return (opts.endpoint ?? (env.HEART_ARM_ENDPOINT?.trim() || cloudFromEnv(env).armEndpoint)).replace(/\/+$/, "");
}

export function createArmClient(credential: TokenCredential, ws: WorkspaceRef, opts: ArmClientOptions = {}): AzureMachineLearningWorkspaces {
  const endpoint = armEndpoint(opts);
  const cloud = cloudFromEnv({ ...(opts.env ?? process.env), HEART_ARM_ENDPOINT: endpoint });
  return new AzureMachineLearningWorkspaces(credential, ws.subscriptionId, {
    apiVersion: opts.apiVersion ?? ARM_API_VERSION,
    // Both are needed: `endpoint` is the pipeline's base URL, `$host` the URL template's host parameter.
    endpoint,
    $host: endpoint,
    credentialScopes: [cloud.armScope],
    retryOptions: opts.maxRetries !== undefined ? { maxRetries: opts.maxRetries } : undefined,
  });
}
