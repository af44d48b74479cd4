/**
 * The stack's configuration: the keys, their defaults, and one pure validation that reports every problem at
 * once, each naming its key and the values it accepts. Reading Pulumi config is the only side effect, kept in
 * `readRawConfig`.
 */
import * as pulumi from "@pulumi/pulumi";
import {
  COMPUTE_NAME_PATTERN,
  DEPLOYMENT_NAME_MAX,
  DEPLOYMENT_NAME_PATTERN,
  endpointBaseNameProblem,
  WorkspaceRef,
} from "../lib/naming";

export const VM_PRIORITIES = ["Dedicated", "LowPriority"] as const;
export type VmPriority = (typeof VM_PRIORITIES)[number];

export const DEFAULTS = {
  computeName: "batch-cluster",
  vmSize: "Standard_DS3_v2",
  minNodes: 0,
  maxNodes: 5,
  endpointBaseName: "heart-scoring",
  deploymentName: "uci-classifier-prepros-xgb",
  datastoreName: "workspaceblobstore",
  retainAssetsOnDestroy: true,
  /** Worker processes per node: the 4 vCPUs of the default vmSize (Standard_DS3_v2). */
  maxConcurrencyPerInstance: 4,
} as const;

/** Upper bounds of the parallel settings (retry_settings.timeout: the CLI v2 reference's (0, 259200]). */
export const PARALLEL_LIMITS = { maxConcurrencyPerInstance: 64, miniBatchTimeout: 259200 } as const;

/** Every key the stack reads (in the project's config namespace). */
export const CONFIG_KEYS = [
  "subscriptionId",
  "resourceGroupName",
  "workspaceName",
  "location",
  "computeName",
  "vmSize",
  "minNodes",
  "maxNodes",
  "idleTimeBeforeScaleDown",
  "vmPriority",
  "endpointBaseName",
  "deploymentName",
  "deployments",
  "datastoreName",
  "retainAssetsOnDestroy",
  "tags",
  "instanceCount",
  "maxConcurrencyPerInstance",
  "miniBatchSize",
  "maxRetries",
  "miniBatchTimeout",
  "miniBatchErrorThreshold",
] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];
/** Config values as Pulumi holds them: strings (structured values as JSON text), or absent. */
export type RawConfig = Partial<Record<ConfigKey, string>>;

export interface DeploymentConfig {
  readonly name: string;
  readonly isDefault: boolean;
  /** Model name → folder (relative to the project root, or absolute) holding the model to register. */
  readonly models: Readonly<Record<string, string>>;
}

export interface ComputeConfig {
  readonly name: string;
  readonly vmSize: string;
  readonly minNodes: number;
  readonly maxNodes: number;
  /** @default left out: Azure's own default idle time applies. */
  readonly idleSeconds?: number;
  /** @default left out: Azure's default (Dedicated). */
  readonly vmPriority?: VmPriority;
}

/**
 * How the parallel steps (prepare, score) run on the cluster; set on every parallel node of the registered
 * pipeline. A field left out keeps the value in the component's YAML (components/<step>/<step>.yml).
 */
export interface ParallelConfig {
  /** Nodes a parallel step runs on (resources.instance_count), 1..maxNodes. @default maxNodes */
  readonly instanceCount: number;
  /** Worker processes per node. @default 4 (the vCPUs of Standard_DS3_v2) */
  readonly maxConcurrencyPerInstance: number;
  /** Files per mini-batch. @default the component YAML's (1) */
  readonly miniBatchSize?: number;
  /** Retries of a failed or timed-out mini-batch (retry_settings.max_retries). @default the component YAML's (2) */
  readonly maxRetries?: number;
  /** Seconds one run(mini_batch) call may take (retry_settings.timeout). @default the component YAML's (600) */
  readonly miniBatchTimeoutSeconds?: number;
  /** Failed mini-batches tolerated before the step fails; -1 tolerates all. @default the component YAML's (0) */
  readonly miniBatchErrorThreshold?: number;
}

export interface StackConfig {
  readonly workspace: WorkspaceRef;
  readonly location: string;
  readonly compute: ComputeConfig;
  readonly parallel: ParallelConfig;
  readonly endpointBaseName: string;
  readonly datastoreName: string;
  /** Exactly one has isDefault. */
  readonly deployments: readonly DeploymentConfig[];
  /**
   * Each asset version's `retainOnDestroy` (infra/assetVersion.ts). Keep it true wherever several stacks share a
   * workspace: a stack deletes only versions it registered itself, but another stack may have adopted them.
   */
  readonly retainAssetsOnDestroy: boolean;
  readonly tags: Readonly<Record<string, string>>;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

export interface ValidationContext {
  /** Pulumi's config namespace, used in messages (`<namespace>:<key>`). */
  readonly namespace: string;
  /** Names of the models the pipeline binds (from components/pipeline.yml). */
  readonly modelNames: readonly string[];
  /** Whether a model folder exists (relative paths are relative to the project root). */
  readonly folderExists?: (folder: string) => boolean;
  /** Config keys present in the namespace but unknown to the stack (typos). */
  readonly unknownKeys?: readonly string[];
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const RESOURCE_GROUP = /^[-\w._()]{1,90}$/;
const WORKSPACE = /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$/;
const LOCATION = /^[a-z][a-z0-9]+$/;
const DATASTORE = /^[a-zA-Z0-9_]{1,255}$/;

/** Seconds from an ISO-8601 duration (PnDTnHnMnS, whole numbers) or a whole number of seconds. */
export function parseDurationSeconds(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(t);
  if (!m || t === "P" || t.endsWith("T")) return undefined;
  const [d, h, min, s] = m.slice(1).map((x) => Number(x ?? 0));
  return ((d * 24 + h) * 60 + min) * 60 + s;
}

export function validateConfig(raw: RawConfig, ctx: ValidationContext): StackConfig {
  const problems: string[] = [];
  const key = (k: ConfigKey) => `${ctx.namespace}:${k}`;
  const str = (k: ConfigKey): string | undefined => {
    const v = raw[k];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  };
  const required = (k: ConfigKey, pattern: RegExp, accepted: string): string => {
    const v = str(k);
    if (v === undefined) problems.push(`${key(k)} is required: ${accepted}`);
    else if (!pattern.test(v)) problems.push(`${key(k)} = ${JSON.stringify(v)} is not valid: ${accepted}`);
    return v ?? "";
  };
  const wholeNumber = (k: ConfigKey, dflt: number): number => {
    const v = str(k);
    if (v === undefined) return dflt;
    if (!/^-?\d+$/.test(v)) {
      problems.push(`${key(k)} = ${JSON.stringify(v)} is not a whole number: expected an integer >= 0`);
      return dflt;
    }
    const n = Number(v);
    if (n < 0) problems.push(`${key(k)} = ${n} is negative: expected an integer >= 0`);
    return n;
  };
  const json = (k: ConfigKey): unknown => {
    const v = str(k);
    if (v === undefined) return undefined;
    try {
      return JSON.parse(v);
    } catch {
      problems.push(`${key(k)} is not structured config (set it as a YAML mapping/list in Pulumi.<stack>.yaml)`);
      return undefined;
    }
  };

  for (const k of ctx.unknownKeys ?? []) problems.push(`${ctx.namespace}:${k} is not a key this stack reads (known: ${CONFIG_KEYS.join(", ")})`);

  const workspace: WorkspaceRef = {
    subscriptionId: required("subscriptionId", GUID, "the subscription id (a GUID) of the existing Azure ML workspace"),
    resourceGroupName: required("resourceGroupName", RESOURCE_GROUP, "the resource group of the existing workspace (1-90 letters, digits, -_.())"),
    workspaceName: required("workspaceName", WORKSPACE, "the name of the existing Azure ML workspace (3-33 letters, digits, - or _, a letter or digit first)"),
  };
  const location = required("location", LOCATION, "the workspace's Azure region in lower case, e.g. westeurope");

  const computeName = str("computeName") ?? DEFAULTS.computeName;
  if (!COMPUTE_NAME_PATTERN.test(computeName)) {
    problems.push(`${key("computeName")} = ${JSON.stringify(computeName)} is not valid: 2-16 characters, a letter first, then letters, digits or hyphens`);
  }
  const vmSize = str("vmSize") ?? DEFAULTS.vmSize;
  if (!/^[A-Za-z][A-Za-z0-9_]+$/.test(vmSize)) problems.push(`${key("vmSize")} = ${JSON.stringify(vmSize)} is not a VM size name (e.g. Standard_DS3_v2)`);
  const minNodes = wholeNumber("minNodes", DEFAULTS.minNodes);
  const maxNodes = wholeNumber("maxNodes", DEFAULTS.maxNodes);
  if (str("maxNodes") !== undefined && maxNodes === 0) problems.push(`${key("maxNodes")} = 0: expected at least 1 (the pipeline needs a node to run)`);
  if (minNodes >= 0 && maxNodes >= 0 && maxNodes < minNodes) {
    problems.push(`${key("maxNodes")} (${maxNodes}) is less than ${key("minNodes")} (${minNodes}): expected maxNodes >= minNodes`);
  }
  let idleSeconds: number | undefined;
  const idle = str("idleTimeBeforeScaleDown");
  if (idle !== undefined) {
    idleSeconds = parseDurationSeconds(idle);
    if (idleSeconds === undefined || idleSeconds <= 0) {
      problems.push(`${key("idleTimeBeforeScaleDown")} = ${JSON.stringify(idle)} is not a duration: expected an ISO-8601 duration such as PT2M or PT120S, or a whole number of seconds > 0`);
      idleSeconds = undefined;
    }
  }
  const priority = str("vmPriority");
  let vmPriority: VmPriority | undefined;
  if (priority !== undefined) {
    vmPriority = VM_PRIORITIES.find((p) => p.toLowerCase() === priority.toLowerCase());
    if (!vmPriority) problems.push(`${key("vmPriority")} = ${JSON.stringify(priority)} is not valid: expected one of ${VM_PRIORITIES.join(", ")}`);
  }

  const parallel = readParallel(str, key, maxNodes, problems);

  const endpointBaseName = str("endpointBaseName") ?? DEFAULTS.endpointBaseName;
  const baseProblem = endpointBaseNameProblem(endpointBaseName);
  if (baseProblem) problems.push(`${key("endpointBaseName")} = ${JSON.stringify(endpointBaseName)} ${baseProblem}`);

  const datastoreName = str("datastoreName") ?? DEFAULTS.datastoreName;
  if (!DATASTORE.test(datastoreName)) problems.push(`${key("datastoreName")} = ${JSON.stringify(datastoreName)} is not a datastore name (letters, digits and _)`);

  let retainAssetsOnDestroy: boolean = DEFAULTS.retainAssetsOnDestroy;
  const retain = str("retainAssetsOnDestroy");
  if (retain !== undefined) {
    if (retain === "true" || retain === "false") retainAssetsOnDestroy = retain === "true";
    else problems.push(`${key("retainAssetsOnDestroy")} = ${JSON.stringify(retain)} is not valid: expected true or false`);
  }

  const tags: Record<string, string> = {};
  const rawTags = json("tags");
  if (rawTags !== undefined) {
    if (rawTags === null || typeof rawTags !== "object" || Array.isArray(rawTags)) problems.push(`${key("tags")} must be a mapping of tag name to text`);
    else {
      for (const [name, value] of Object.entries(rawTags)) {
        if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") problems.push(`${key("tags")}.${name} must be text`);
        else tags[name] = String(value);
      }
    }
  }

  const deployments = readDeployments(raw, ctx, key, str, json, problems);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    workspace,
    location,
    compute: { name: computeName, vmSize, minNodes, maxNodes, ...(idleSeconds !== undefined ? { idleSeconds } : {}), ...(vmPriority ? { vmPriority } : {}) },
    parallel,
    endpointBaseName,
    datastoreName,
    deployments,
    retainAssetsOnDestroy,
    tags,
  };
}

function readParallel(
  str: (k: ConfigKey) => string | undefined,
  key: (k: ConfigKey) => string,
  maxNodes: number,
  problems: string[],
): ParallelConfig {
  const int = (k: ConfigKey, min: number, max: number, accepted: string, parse: (v: string) => number | undefined = (v) => (/^-?\d+$/.test(v) ? Number(v) : undefined)): number | undefined => {
    const v = str(k);
    if (v === undefined) return undefined;
    const n = parse(v);
    if (n === undefined || n < min || n > max) {
      problems.push(`${key(k)} = ${JSON.stringify(v)} is not valid: ${accepted}`);
      return undefined;
    }
    return n;
  };
  // An invalid maxNodes is reported on its own key; instanceCount is then only checked to be >= 1.
  const nodes = maxNodes >= 1 ? maxNodes : undefined;
  const instanceCount =
    int(
      "instanceCount",
      1,
      nodes ?? Number.MAX_SAFE_INTEGER,
      `expected a whole number of nodes from 1 to ${key("maxNodes")} (${nodes ?? "?"}): a parallel step cannot use more nodes than the cluster has`,
    ) ?? nodes ?? 1;
  const maxConcurrencyPerInstance =
    int("maxConcurrencyPerInstance", 1, PARALLEL_LIMITS.maxConcurrencyPerInstance, `expected a whole number of worker processes per node from 1 to ${PARALLEL_LIMITS.maxConcurrencyPerInstance} (usually the node's vCPUs)`) ??
    DEFAULTS.maxConcurrencyPerInstance;
  const miniBatchSize = int("miniBatchSize", 1, Number.MAX_SAFE_INTEGER, "expected a whole number of files per mini-batch >= 1");
  const maxRetries = int("maxRetries", 0, 100, "expected a whole number of retries from 0 to 100");
  const miniBatchTimeoutSeconds = int(
    "miniBatchTimeout",
    1,
    PARALLEL_LIMITS.miniBatchTimeout,
    `expected the seconds one mini-batch may take, from 1 to ${PARALLEL_LIMITS.miniBatchTimeout}: whole seconds or an ISO-8601 duration such as PT10M`,
    parseDurationSeconds,
  );
  const miniBatchErrorThreshold = int("miniBatchErrorThreshold", -1, Number.MAX_SAFE_INTEGER, "expected a whole number >= -1 (failed mini-batches tolerated; -1 tolerates all, 0 fails the step on the first)");
  return {
    instanceCount,
    maxConcurrencyPerInstance,
    ...(miniBatchSize !== undefined ? { miniBatchSize } : {}),
    ...(maxRetries !== undefined ? { maxRetries } : {}),
    ...(miniBatchTimeoutSeconds !== undefined ? { miniBatchTimeoutSeconds } : {}),
    ...(miniBatchErrorThreshold !== undefined ? { miniBatchErrorThreshold } : {}),
  };
}

export function defaultModelFolders(modelNames: readonly string[]): Record<string, string> {
  return Object.fromEntries(modelNames.map((m) => [m, `models/${m}`]));
}

function deploymentNameProblem(name: string): string | undefined {
  return name.length >= 3 && name.length <= DEPLOYMENT_NAME_MAX && DEPLOYMENT_NAME_PATTERN.test(name)
    ? undefined
    : `must be 3-${DEPLOYMENT_NAME_MAX} characters: a letter first, then letters, digits or hyphens, not ending in a hyphen`;
}

function readDeployments(
  raw: RawConfig,
  ctx: ValidationContext,
  key: (k: ConfigKey) => string,
  str: (k: ConfigKey) => string | undefined,
  json: (k: ConfigKey) => unknown,
  problems: string[],
): DeploymentConfig[] {
  const defaults = defaultModelFolders(ctx.modelNames);
  const checkFolders = (where: string, models: Record<string, string>) => {
    for (const [model, folder] of Object.entries(models)) {
      if (ctx.folderExists && !ctx.folderExists(folder)) problems.push(`${where}.${model} = ${JSON.stringify(folder)}: folder not found`);
    }
  };
  const list = json("deployments");
  if (list === undefined) {
    const name = str("deploymentName") ?? DEFAULTS.deploymentName;
    const p = deploymentNameProblem(name);
    if (p) problems.push(`${key("deploymentName")} = ${JSON.stringify(name)} ${p}`);
    checkFolders(`${key("deployments")}[0].models`, defaults);
    return [{ name, isDefault: true, models: defaults }];
  }
  if (raw.deploymentName !== undefined) {
    problems.push(`${key("deploymentName")} and ${key("deployments")} are both set: name the deployments in ${key("deployments")} only`);
  }
  if (!Array.isArray(list) || list.length === 0) {
    problems.push(`${key("deployments")} must be a non-empty list of {name, default?, models?}`);
    return [];
  }
  const out: DeploymentConfig[] = [];
  list.forEach((item: unknown, i: number) => {
    const where = `${key("deployments")}[${i}]`;
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      problems.push(`${where} must be a mapping {name, default?, models?}`);
      return;
    }
    const d = item as Record<string, unknown>;
    for (const k of Object.keys(d)) if (!["name", "default", "models"].includes(k)) problems.push(`${where}.${k} is not a deployment key (known: name, default, models)`);
    const name = typeof d.name === "string" ? d.name : "";
    const p = deploymentNameProblem(name);
    if (p) problems.push(`${where}.name = ${JSON.stringify(d.name ?? null)} ${p}`);
    if (d.default !== undefined && typeof d.default !== "boolean") problems.push(`${where}.default must be true or false`);
    const models: Record<string, string> = { ...defaults };
    if (d.models !== undefined) {
      if (d.models === null || typeof d.models !== "object" || Array.isArray(d.models)) problems.push(`${where}.models must map model names (${ctx.modelNames.join(", ")}) to folders`);
      else {
        for (const [m, folder] of Object.entries(d.models as Record<string, unknown>)) {
          if (!ctx.modelNames.includes(m)) problems.push(`${where}.models.${m} is not a model the pipeline binds (known: ${ctx.modelNames.join(", ")})`);
          else if (typeof folder !== "string" || folder.trim() === "") problems.push(`${where}.models.${m} must be a folder path`);
          else models[m] = folder.trim();
        }
      }
    }
    checkFolders(`${where}.models`, models);
    out.push({ name, isDefault: d.default === true, models });
  });
  const names = out.map((d) => d.name);
  for (const n of new Set(names)) if (n && names.filter((x) => x === n).length > 1) problems.push(`${key("deployments")}: name ${n} is used more than once`);
  const defaultsCount = out.filter((d) => d.isDefault).length;
  if (out.length > 0 && defaultsCount !== 1) problems.push(`${key("deployments")}: exactly one deployment must have default: true (found ${defaultsCount})`);
  return out;
}

/** Reads the project's config namespace as raw strings, and lists keys the stack does not know. */
export function readRawConfig(namespace?: string): { raw: RawConfig; namespace: string; unknownKeys: string[] } {
  const cfg = new pulumi.Config(namespace);
  const raw: RawConfig = {};
  for (const k of CONFIG_KEYS) {
    const v = cfg.get(k);
    if (v !== undefined) raw[k] = v;
  }
  const prefix = `${cfg.name}:`;
  const unknownKeys = Object.keys(pulumi.runtime.allConfig())
    .filter((k) => k.startsWith(prefix))
    .map((k) => k.slice(prefix.length))
    .filter((k) => !(CONFIG_KEYS as readonly string[]).includes(k));
  return { raw, namespace: cfg.name, unknownKeys };
}
