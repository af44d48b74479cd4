/**
 * The policy pack PR previews and deploys run (`pulumi preview --policy-pack policy`, `npm run preview`).
 * The rules live in ./rules (pure, unit-tested); this file only adapts them to @pulumi/policy.
 *
 * Configuration (optional; `--policy-pack-config policy/config.<name>.json`), per policy:
 *   compute-min-nodes-zero, assets-retained-in-production: { "productionStacks": ["prod*", ...] }
 *   required-tags: { "requiredTags": ["owner", ...], "taggableTypes": [<azure-native type tokens>] }
 */
import { PolicyPack, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import {
  DEFAULT_SETTINGS,
  parseUrn,
  RULES,
  RuleEntry,
  ResourceUnderReview,
  settingsFrom,
} from "./rules";

const stringList = (defaults: readonly string[], description: string) => ({
  type: "array" as const,
  items: { type: "string" as const },
  default: [...defaults],
  description,
});

const productionStacks = stringList(DEFAULT_SETTINGS.productionStacks, "Stack-name patterns (* and ?) that mark production stacks.");

const CONFIG_SCHEMAS: Record<string, ResourceValidationPolicy["configSchema"]> = {
  "compute-min-nodes-zero": { properties: { productionStacks } },
  "assets-retained-in-production": { properties: { productionStacks } },
  "required-tags": {
    properties: {
      requiredTags: stringList(DEFAULT_SETTINGS.requiredTags, "Tag names every taggable resource must carry."),
      taggableTypes: stringList(DEFAULT_SETTINGS.taggableTypes, "Resource types checked for the required tags."),
    },
  },
};

function underReview(args: ResourceValidationArgs): ResourceUnderReview {
  return { type: args.type, name: args.name, props: args.props, protect: args.opts.protect };
}

function toPolicy(entry: RuleEntry): ResourceValidationPolicy {
  return {
    name: entry.name,
    description: entry.description,
    enforcementLevel: "mandatory",
    ...(CONFIG_SCHEMAS[entry.name] ? { configSchema: CONFIG_SCHEMAS[entry.name] } : {}),
    validateResource: (args, reportViolation) => {
      const stack = parseUrn(args.urn)?.stack ?? process.env.PULUMI_NODEJS_STACK ?? "";
      const settings = settingsFrom(args.getConfig<Record<string, unknown>>());
      for (const message of entry.rule(underReview(args), { stack, settings })) reportViolation(message);
    },
  };
}

new PolicyPack("heart-scoring-guardrails", {
  description: "Guard-rails for the heart batch-scoring stack: cost, authentication, identity, retention, tags.",
  policies: RULES.map(toPolicy),
});
