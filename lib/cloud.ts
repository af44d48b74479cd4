/**
 * Which Azure cloud the stack and the scripts talk to, and so every endpoint and token scope they use:
 * Resource Manager, the Entra authority, the Azure ML data plane (batch endpoint invoke) and blob storage.
 * Pure: an environment in, one cloud out, or a CloudError that says what to set.
 *
 * The cloud is named by HEART_AZURE_CLOUD (the Azure CLI's names: AzureCloud, AzureUSGovernment,
 * AzureChinaCloud), else by azure-native's ARM_ENVIRONMENT (public, usgovernment, china), else read off
 * HEART_ARM_ENDPOINT when that is a known cloud's Resource Manager, else it is AzureCloud. HEART_ARM_ENDPOINT
 * may also be a proxy of the named cloud, or a loopback test server (then the named cloud, default AzureCloud).
 * Any other cloud (Azure Stack, a retired or private cloud) is refused: its audiences are not known here.
 *
 * Sources: azure-ai-ml's cloud table (_azure_environments.py: ARM endpoint, authority, AML resource id, storage
 * suffix per cloud); the Azure SDKs' storage audiences per cloud (TableAudience / cloud.Configuration:
 * storage.azure.com, storage.azure.us, storage.azure.cn); @azure/identity's AzureAuthorityHosts. The ARM scope is
 * the Resource Manager endpoint + "/.default", as the @azure/arm-* clients derive it by default.
 */

export type CloudName = "AzureCloud" | "AzureUSGovernment" | "AzureChinaCloud";

export interface AzureCloud {
  readonly name: CloudName;
  /** Resource Manager, without a trailing slash. */
  readonly armEndpoint: string;
  /** Microsoft Entra authority host for this cloud's tenants. */
  readonly authorityHost: string;
  readonly armScope: string;
  /** Azure ML data plane (invoking batch endpoints): the "AML resource id" + /.default. */
  readonly mlScope: string;
  /** Azure Storage (blobs), any account of this cloud. */
  readonly storageScope: string;
  /** Blob endpoints are https://<account>.blob.<storageSuffix>. */
  readonly storageSuffix: string;
}

export const CLOUDS: Readonly<Record<CloudName, AzureCloud>> = {
  AzureCloud: {
    name: "AzureCloud",
    armEndpoint: "https://management.azure.com",
    authorityHost: "https://login.microsoftonline.com",
    armScope: "https://management.azure.com/.default",
    mlScope: "https://ml.azure.com/.default",
    storageScope: "https://storage.azure.com/.default",
    storageSuffix: "core.windows.net",
  },
  AzureUSGovernment: {
    name: "AzureUSGovernment",
    armEndpoint: "https://management.usgovcloudapi.net",
    authorityHost: "https://login.microsoftonline.us",
    armScope: "https://management.usgovcloudapi.net/.default",
    mlScope: "https://ml.azure.us/.default",
    storageScope: "https://storage.azure.us/.default",
    storageSuffix: "core.usgovcloudapi.net",
  },
  AzureChinaCloud: {
    name: "AzureChinaCloud",
    armEndpoint: "https://management.chinacloudapi.cn",
    authorityHost: "https://login.chinacloudapi.cn",
    armScope: "https://management.chinacloudapi.cn/.default",
    mlScope: "https://ml.azure.cn/.default",
    storageScope: "https://storage.azure.cn/.default",
    storageSuffix: "core.chinacloudapi.cn",
  },
};

/** azure-native's ARM_ENVIRONMENT values and the Azure CLI's names, lower-cased. */
const ALIASES: Readonly<Record<string, CloudName>> = {
  azurecloud: "AzureCloud",
  public: "AzureCloud",
  azureusgovernment: "AzureUSGovernment",
  usgovernment: "AzureUSGovernment",
  azurechinacloud: "AzureChinaCloud",
  china: "AzureChinaCloud",
};

/** Bad cloud settings: a usage error (exit 2 in the scripts), with what to set. */
export class CloudError extends Error {
  override readonly name = "CloudError";
}

const KNOWN = `known clouds: ${Object.values(CLOUDS)
  .map((c) => `${c.name} (${c.armEndpoint})`)
  .join(", ")}`;

function named(value: string, from: string): CloudName {
  const name = ALIASES[value.trim().toLowerCase()];
  if (!name) throw new CloudError(`${from}=${value} is not a cloud this project supports; ${KNOWN}`);
  return name;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The cloud whose Resource Manager is at `endpoint`, undefined for a host no cloud uses. */
export function cloudOfArmEndpoint(endpoint: string): CloudName | undefined {
  let host: string;
  try {
    host = new URL(endpoint).hostname.toLowerCase();
  } catch {
    throw new CloudError(`HEART_ARM_ENDPOINT=${endpoint} is not a URL (expected e.g. https://management.azure.com)`);
  }
  return Object.values(CLOUDS).find((c) => new URL(c.armEndpoint).hostname === host)?.name;
}

/** The cloud these settings name; throws CloudError for an unknown or contradictory one. */
export function cloudFromEnv(env: NodeJS.ProcessEnv = process.env): AzureCloud {
  const heart = env.HEART_AZURE_CLOUD?.trim() ? named(env.HEART_AZURE_CLOUD, "HEART_AZURE_CLOUD") : undefined;
  const native = env.ARM_ENVIRONMENT?.trim() ? named(env.ARM_ENVIRONMENT, "ARM_ENVIRONMENT") : undefined;
  if (heart && native && heart !== native) {
    throw new CloudError(`HEART_AZURE_CLOUD=${env.HEART_AZURE_CLOUD} and ARM_ENVIRONMENT=${env.ARM_ENVIRONMENT} name different clouds; the stack and the scripts must use one`);
  }
  const chosen = heart ?? native;
  const endpoint = env.HEART_ARM_ENDPOINT?.trim();
  if (!endpoint) return CLOUDS[chosen ?? "AzureCloud"];
  const ofEndpoint = cloudOfArmEndpoint(endpoint);
  if (ofEndpoint) {
    if (chosen && chosen !== ofEndpoint) throw new CloudError(`HEART_ARM_ENDPOINT=${endpoint} is ${ofEndpoint}'s Resource Manager, but the cloud is set to ${chosen}`);
    return CLOUDS[ofEndpoint];
  }
  if (chosen) return CLOUDS[chosen]; // a proxy in front of the named cloud
  if (isLoopback(new URL(endpoint).hostname.toLowerCase())) return CLOUDS.AzureCloud; // a local proxy or test server
  throw new CloudError(
    `HEART_ARM_ENDPOINT=${endpoint} is not the Resource Manager of a cloud this project supports (${KNOWN}); ` +
      `if it is a proxy in front of one, name that cloud with HEART_AZURE_CLOUD`,
  );
}

/** Where the Entra tokens come from: AZURE_AUTHORITY_HOST (as @azure/identity reads it), else the cloud's. */
export function authorityHost(env: NodeJS.ProcessEnv = process.env): string {
  return (env.AZURE_AUTHORITY_HOST?.trim() || cloudFromEnv(env).authorityHost).replace(/\/+$/, "");
}

/** Whether `host` is one of the known clouds' authorities (MSAL's instance discovery only works for those). */
export function isKnownAuthority(host: string): boolean {
  const h = host.replace(/\/+$/, "").toLowerCase();
  return Object.values(CLOUDS).some((c) => c.authorityHost === h);
}
