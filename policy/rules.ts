/**
 * The guard-rails as plain functions: (resource, context) → violation messages. No Pulumi runtime, no I/O, so
 * the same functions run inside the policy pack (policy/index.ts) and in unit tests fed with the resource
 * inputs the program declares under mocks.
 *
 * What a policy can see of a resource (@pulumi/policy 1.21, AnalyzerResourceOptions in the engine's analyzer
 * protocol): its type, name, URN, inputs, and the options protect, ignoreChanges, deleteBeforeReplace,
 * aliases, customTimeouts, additionalSecretOutputs and parent (not `retainOnDelete`). Asset versions are
 * dynamic resources (infra/assetVersion.ts, type `pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion`)
 * that carry their retention as an input, `retainOnDestroy`, which policies see like any other input.
 */

export const TYPES = {
  compute: "azure-native:machinelearningservices:Compute",
  batchEndpoint: "azure-native:machinelearningservices:BatchEndpoint",
  batchDeployment: "azure-native:machinelearningservices:BatchDeployment",
  /** Model, code, environment and component versions (`assetKind` models | codes | environments | components). */
  assetVersion: "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion",
} as const;

/** ARM tracked resources of this stack: they carry top-level `tags` (asset versions keep theirs in properties). */
export const DEFAULT_TAGGABLE_TYPES: readonly string[] = [TYPES.compute, TYPES.batchEndpoint, TYPES.batchDeployment];

/** Stack-name patterns (`*` any run of characters, `?` one) that mark a production stack. */
export const DEFAULT_PRODUCTION_STACKS: readonly string[] = ["prod*", "production*"];

/** Tags every taggable resource must carry; set in the stack's `tags` config. */
export const DEFAULT_REQUIRED_TAGS: readonly string[] = ["project", "environment"];

/** The stack config key the program turns into each asset version's `retainOnDestroy` input. */
export const RETAIN_CONFIG_KEY = "retainAssetsOnDestroy";

export interface PolicySettings {
  readonly productionStacks: readonly string[];
  readonly requiredTags: readonly string[];
  readonly taggableTypes: readonly string[];
}

export const DEFAULT_SETTINGS: PolicySettings = {
  productionStacks: DEFAULT_PRODUCTION_STACKS,
  requiredTags: DEFAULT_REQUIRED_TAGS,
  taggableTypes: DEFAULT_TAGGABLE_TYPES,
};

export interface ResourceUnderReview {
  readonly type: string;
  /** The Pulumi name (logical name) of the resource, used in messages. */
  readonly name: string;
  /** Resource inputs (azure-native: the SDK's camelCase shape; dynamic resources: their inputs as declared). */
  readonly props: Record<string, unknown>;
  /** The `protect` option, as the engine reports it. */
  readonly protect?: boolean;
}

export interface RuleContext {
  readonly stack: string;
  readonly settings: PolicySettings;
}

export type Rule = (resource: ResourceUnderReview, ctx: RuleContext) => string[];

// ---- helpers ---------------------------------------------------------------------------------------------

/** `urn:pulumi:<stack>::<project>::<type chain>::<name>` → stack and project. */
export function parseUrn(urn: string): { stack: string; project: string } | undefined {
  const m = /^urn:pulumi:([^:]+)::([^:]+)::/.exec(urn);
  return m ? { stack: m[1], project: m[2] } : undefined;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}

/** Whether a stack name (with or without an `org/` or `org/project/` prefix) is a production stack. */
export function isProductionStack(stack: string, patterns: readonly string[]): boolean {
  const bare = stack.split("/").pop() ?? stack;
  return patterns.some((p) => globToRegExp(p).test(bare));
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function describe(r: ResourceUnderReview): string {
  return `${r.type.split(":").pop()} "${r.name}"`;
}

// ---- rules -----------------------------------------------------------------------------------------------

/**
 * Outside production, an AmlCompute cluster scales to zero nodes when idle, so a stack costs nothing while no job
 * runs. Left out, minNodeCount is 0 (the SDK's and the service's default).
 */
export const computeMinNodesZero: Rule = (r, ctx) => {
  if (r.type !== TYPES.compute) return [];
  const properties = record(r.props.properties);
  if (properties?.computeType !== "AmlCompute") return [];
  if (isProductionStack(ctx.stack, ctx.settings.productionStacks)) return [];
  const scale = record(record(properties.properties)?.scaleSettings);
  const min = scale?.minNodeCount ?? 0;
  if (min === 0) return [];
  return [
    `${describe(r)} keeps ${String(min)} node(s) running when idle (scaleSettings.minNodeCount = ${String(min)}) on stack "${ctx.stack}", ` +
      `which is not a production stack (production stacks match ${ctx.settings.productionStacks.join(", ")}). ` +
      `Set the stack config minNodes to 0 so the cluster scales to zero and costs nothing while no job runs.`,
  ];
};

/** Batch endpoints accept Microsoft Entra tokens only: no keys, no AML tokens to leak or rotate. */
export const endpointEntraAuthOnly: Rule = (r) => {
  if (r.type !== TYPES.batchEndpoint) return [];
  const authMode = record(r.props.properties)?.authMode;
  if (authMode === "AADToken") return [];
  return [
    `${describe(r)} uses authMode ${authMode === undefined ? "(unset)" : JSON.stringify(authMode)}; ` +
      `batch endpoints must use "AADToken" (Microsoft Entra ID) so callers authenticate with their own identity.`,
  ];
};

/**
 * A user-assigned identity on a batch endpoint is rejected by the service (azure-rest-api-specs #40149): only a
 * system-assigned identity (or none) deploys.
 */
export const endpointNoUserAssignedIdentity: Rule = (r) => {
  if (r.type !== TYPES.batchEndpoint) return [];
  const identity = record(r.props.identity);
  if (!identity) return [];
  const type = typeof identity.type === "string" ? identity.type : "";
  const assigned = identity.userAssignedIdentities;
  const count = Array.isArray(assigned) ? assigned.length : Object.keys(record(assigned) ?? {}).length;
  if (!/userassigned/i.test(type) && count === 0) return [];
  return [
    `${describe(r)} has a user-assigned identity (identity.type ${JSON.stringify(type)}` +
      `${count > 0 ? `, ${count} userAssignedIdentities` : ""}); the service rejects it on batch endpoints. ` +
      `Use identity type "SystemAssigned" or leave identity out.`,
  ];
};

const ASSET_KIND_SINGULAR: Record<string, string> = { models: "model", codes: "code", environments: "environment", components: "component" };

/**
 * In production, registered asset versions must survive `pulumi destroy`: jobs, deployments and other stacks
 * in the workspace may still reference them, and a deleted version may not be registrable again.
 */
export const assetsRetainedInProduction: Rule = (r, ctx) => {
  if (r.type !== TYPES.assetVersion) return [];
  if (!isProductionStack(ctx.stack, ctx.settings.productionStacks)) return [];
  if (r.props.retainOnDestroy === true || r.protect === true) return [];
  const kind = ASSET_KIND_SINGULAR[String(r.props.assetKind)] ?? "asset";
  const what = typeof r.props.name === "string" ? ` (${kind} ${r.props.name} version ${String(r.props.version)})` : "";
  const why = r.props.retainOnDestroy === false ? `retainOnDestroy is false: the stack sets ${RETAIN_CONFIG_KEY} to false` : "retainOnDestroy is not set";
  return [
    `${describe(r)}${what} on production stack "${ctx.stack}" would be deleted by pulumi destroy (${why}). ` +
      `Set the stack config ${RETAIN_CONFIG_KEY} to true (the default) or protect the resource.`,
  ];
};

/** Taggable resources carry the required tags (project, environment...) so cost reports can attribute them. */
export const requiredTags: Rule = (r, ctx) => {
  if (!ctx.settings.taggableTypes.includes(r.type) || ctx.settings.requiredTags.length === 0) return [];
  const tags = record(r.props.tags) ?? {};
  const missing = ctx.settings.requiredTags.filter((t) => {
    const v = tags[t];
    return typeof v !== "string" || v.trim() === "";
  });
  if (missing.length === 0) return [];
  return [
    `${describe(r)} lacks the required tag(s) ${missing.join(", ")}. ` +
      `Add them to the stack config tags (a mapping of tag name to value), which the program puts on every taggable resource.`,
  ];
};

export interface RuleEntry {
  readonly name: string;
  readonly description: string;
  readonly rule: Rule;
}

/** Every rule, with the policy name the pack registers it under. */
export const RULES: readonly RuleEntry[] = [
  { name: "compute-min-nodes-zero", description: "AmlCompute clusters scale to 0 nodes when idle outside production stacks.", rule: computeMinNodesZero },
  { name: "endpoint-entra-auth-only", description: "Batch endpoints use Microsoft Entra ID (AADToken) authentication only.", rule: endpointEntraAuthOnly },
  { name: "endpoint-no-user-assigned-identity", description: "Batch endpoints have no user-assigned identity (the service rejects it).", rule: endpointNoUserAssignedIdentity },
  { name: "assets-retained-in-production", description: "Model, code, environment and component versions survive destroy in production stacks.", rule: assetsRetainedInProduction },
  { name: "required-tags", description: "Taggable resources carry the required tags.", rule: requiredTags },
];

/** Runs every rule on one resource: `{policy name: messages}` for the rules it breaks. */
export function review(resource: ResourceUnderReview, ctx: RuleContext): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { name, rule } of RULES) {
    const messages = rule(resource, ctx);
    if (messages.length > 0) out[name] = messages;
  }
  return out;
}

// ---- settings from the pack's config (pure) ----------------------------------------------------------------

function stringList(value: unknown, key: string, problems: string[]): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    problems.push(`policy config ${key} must be a list of strings`);
    return undefined;
  }
  return value as string[];
}

/**
 * Settings from the policy pack config (`--policy-pack-config FILE`: `{"<policy>": {"productionStacks": [...]}}`,
 * merged across policies); unknown or malformed values are reported, not ignored.
 */
export function settingsFrom(config: Record<string, unknown>): PolicySettings {
  const problems: string[] = [];
  const productionStacks = stringList(config.productionStacks, "productionStacks", problems);
  const tags = stringList(config.requiredTags, "requiredTags", problems);
  const taggable = stringList(config.taggableTypes, "taggableTypes", problems);
  if (problems.length > 0) throw new Error(problems.join("; "));
  return {
    productionStacks: productionStacks ?? DEFAULT_SETTINGS.productionStacks,
    requiredTags: tags ?? DEFAULT_SETTINGS.requiredTags,
    taggableTypes: taggable ?? DEFAULT_SETTINGS.taggableTypes,
  };
}
