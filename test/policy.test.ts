/**
 * The policy rules (policy/rules.ts), fed with the resource inputs the program declares under Pulumi mocks:
 * the stack as configured passes every rule; each rule fails on the config (or the input) that breaks it, with a
 * message that names the resource and the fix.
 */
import * as assert from "assert";
import {
  assetsRetainedInProduction,
  computeMinNodesZero,
  DEFAULT_SETTINGS,
  endpointEntraAuthOnly,
  endpointNoUserAssignedIdentity,
  isProductionStack,
  parseUrn,
  requiredTags,
  ResourceUnderReview,
  review,
  RuleContext,
  settingsFrom,
  TYPES,
} from "../policy/rules";
import { ProgramRun, rawConfig, RecordedResource, runProgram, stackProgram } from "./support/pulumiMocks";

const TAGS = JSON.stringify({ project: "heart-batch-scoring", environment: "dev" });

function underReview(r: RecordedResource): ResourceUnderReview {
  // What the engine sends a policy: the inputs as declared (a dynamic resource's included) and protect.
  return { type: r.type, name: r.name, props: r.inputs, protect: false };
}

function violations(run: ProgramRun, stack: string, settings = DEFAULT_SETTINGS): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of run.resources) {
    for (const [policy, messages] of Object.entries(review(underReview(r), { stack, settings }))) {
      (out[policy] ??= []).push(...messages);
    }
  }
  return out;
}

const only = (run: ProgramRun, type: string): RecordedResource => {
  const hits = run.resources.filter((r) => r.type === type);
  assert.strictEqual(hits.length, 1, `one ${type} expected, found ${hits.length}`);
  return hits[0];
};

describe("policy rules on the program's resources (mocks)", function () {
  this.timeout(60_000);
  let dev: ProgramRun;
  let prod: ProgramRun;

  before(async () => {
    dev = await runProgram(stackProgram(rawConfig({ tags: TAGS }), undefined, "dev"), { stack: "dev" });
    prod = await runProgram(stackProgram(rawConfig({ tags: TAGS }), undefined, "prod"), { stack: "prod" });
  });

  it("the stack as configured breaks no rule, on a dev stack and on a production stack", () => {
    assert.deepStrictEqual(violations(dev, "dev"), {});
    assert.deepStrictEqual(violations(prod, "prod"), {});
  });

  it("the rules see every resource type they guard", () => {
    const types = new Set(dev.resources.map((r) => r.type));
    for (const t of Object.values(TYPES)) assert.ok(types.has(t), `the program declares no ${t}`);
  });

  it("compute-min-nodes-zero: minNodes 2 fails on a dev stack, passes on a production stack", async () => {
    const warm = await runProgram(stackProgram(rawConfig({ tags: TAGS, minNodes: "2" }), undefined, "dev"), { stack: "dev" });
    const cluster = underReview(only(warm, TYPES.compute));
    const ctx = (stack: string): RuleContext => ({ stack, settings: DEFAULT_SETTINGS });
    const messages = computeMinNodesZero(cluster, ctx("dev"));
    assert.strictEqual(messages.length, 1);
    assert.match(messages[0], /Compute "batch-cluster" keeps 2 node\(s\) running when idle \(scaleSettings\.minNodeCount = 2\) on stack "dev"/);
    assert.match(messages[0], /Set the stack config minNodes to 0/);
    assert.deepStrictEqual(computeMinNodesZero(cluster, ctx("prod")), []);
    assert.deepStrictEqual(computeMinNodesZero(cluster, ctx("acme/production-weu")), []);
    assert.deepStrictEqual(Object.keys(violations(warm, "dev")), ["compute-min-nodes-zero"]);
  });

  it("compute-min-nodes-zero: a cluster without minNodeCount counts as 0 (Azure's default)", () => {
    const cluster = underReview(only(dev, TYPES.compute));
    const props = JSON.parse(JSON.stringify(cluster.props));
    delete props.properties.properties.scaleSettings.minNodeCount;
    assert.deepStrictEqual(computeMinNodesZero({ ...cluster, props }, { stack: "dev", settings: DEFAULT_SETTINGS }), []);
  });

  it("endpoint-entra-auth-only: the program's endpoint passes; key or AML-token auth fails", () => {
    const endpoint = underReview(only(dev, TYPES.batchEndpoint));
    const ctx = { stack: "dev", settings: DEFAULT_SETTINGS };
    assert.deepStrictEqual(endpointEntraAuthOnly(endpoint, ctx), []);
    for (const mode of ["Key", "AMLToken"]) {
      const props = { ...endpoint.props, properties: { ...(endpoint.props.properties as object), authMode: mode } };
      const messages = endpointEntraAuthOnly({ ...endpoint, props }, ctx);
      assert.strictEqual(messages.length, 1);
      assert.match(messages[0], new RegExp(`BatchEndpoint ".+" uses authMode "${mode}"; batch endpoints must use "AADToken"`));
    }
  });

  it("endpoint-no-user-assigned-identity: none or system-assigned passes; a user-assigned identity fails", () => {
    const endpoint = underReview(only(dev, TYPES.batchEndpoint));
    const ctx = { stack: "dev", settings: DEFAULT_SETTINGS };
    assert.deepStrictEqual(endpointNoUserAssignedIdentity(endpoint, ctx), []);
    assert.deepStrictEqual(endpointNoUserAssignedIdentity({ ...endpoint, props: { ...endpoint.props, identity: { type: "SystemAssigned" } } }, ctx), []);
    const uai = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id";
    for (const identity of [
      { type: "UserAssigned", userAssignedIdentities: [uai] },
      { type: "SystemAssigned,UserAssigned", userAssignedIdentities: [uai] },
      { type: "SystemAssigned", userAssignedIdentities: { [uai]: {} } },
    ]) {
      const messages = endpointNoUserAssignedIdentity({ ...endpoint, props: { ...endpoint.props, identity } }, ctx);
      assert.strictEqual(messages.length, 1, JSON.stringify(identity));
      assert.match(messages[0], /has a user-assigned identity .*the service rejects it on batch endpoints\. Use identity type "SystemAssigned" or leave identity out\./);
    }
  });

  it("assets-retained-in-production: retainAssetsOnDestroy false fails every asset version on a production stack only", async () => {
    const raw = rawConfig({ tags: TAGS, retainAssetsOnDestroy: "false" });
    const prodDeleting = await runProgram(stackProgram(raw, undefined, "prod"), { stack: "prod" });
    const found = violations(prodDeleting, "prod");
    assert.deepStrictEqual(Object.keys(found), ["assets-retained-in-production"]);
    const assets = prodDeleting.resources.filter((r) => r.type === TYPES.assetVersion);
    assert.deepStrictEqual([...new Set(assets.map((r) => r.inputs.assetKind))].sort(), ["codes", "components", "environments", "models"]);
    assert.strictEqual(found["assets-retained-in-production"].length, assets.length);
    const model = assets.find((r) => r.inputs.assetKind === "models")!;
    const [message] = assetsRetainedInProduction(underReview(model), { stack: "prod", settings: DEFAULT_SETTINGS });
    assert.strictEqual(
      message,
      `WorkspaceAssetVersion "${model.name}" (model ${model.inputs.name} version ${model.inputs.version}) on production stack "prod" would be deleted by pulumi destroy ` +
        `(retainOnDestroy is false: the stack sets retainAssetsOnDestroy to false). Set the stack config retainAssetsOnDestroy to true (the default) or protect the resource.`,
    );
    assert.deepStrictEqual(violations(prodDeleting, "dev"), {}, "outside production, deleting assets on destroy is allowed");
    // protect is the other way to pass (an option a policy can see).
    assert.deepStrictEqual(assetsRetainedInProduction({ ...underReview(model), protect: true }, { stack: "prod", settings: DEFAULT_SETTINGS }), []);
  });

  it("assets-retained-in-production: reads retainOnDestroy from each asset version's inputs, as the program sets it from config", async () => {
    for (const [value, retained] of [[undefined, true], ["true", true], ["false", false]] as const) {
      const run = await runProgram(stackProgram(rawConfig({ tags: TAGS, retainAssetsOnDestroy: value }), undefined, "prod"), { stack: "prod" });
      const assets = run.resources.filter((r) => r.type === TYPES.assetVersion);
      assert.strictEqual(assets.length, 8);
      for (const r of assets) {
        assert.strictEqual(r.inputs.retainOnDestroy, retained, `retainAssetsOnDestroy=${value}: ${r.name}`);
        assert.strictEqual(assetsRetainedInProduction(underReview(r), { stack: "prod", settings: DEFAULT_SETTINGS }).length, retained ? 0 : 1);
      }
    }
  });

  it("assets-retained-in-production: an asset version without retainOnDestroy counts as not retained", () => {
    const asset = underReview(prod.resources.find((r) => r.type === TYPES.assetVersion)!);
    const { retainOnDestroy: _, ...props } = asset.props;
    const messages = assetsRetainedInProduction({ ...asset, props }, { stack: "prod", settings: DEFAULT_SETTINGS });
    assert.strictEqual(messages.length, 1);
    assert.match(messages[0], /would be deleted by pulumi destroy \(retainOnDestroy is not set\)/);
    assert.deepStrictEqual(assetsRetainedInProduction({ ...asset, type: "azure-native:machinelearningservices:ModelVersion", props }, { stack: "prod", settings: DEFAULT_SETTINGS }), [], "only the asset type is judged");
  });

  it("required-tags: a stack without tags fails on the cluster, the endpoint and each deployment, naming the tags", async () => {
    const untagged = await runProgram(stackProgram(rawConfig(), undefined, "dev"), { stack: "dev" });
    const found = violations(untagged, "dev");
    assert.deepStrictEqual(Object.keys(found), ["required-tags"]);
    const taggable = untagged.resources.filter((r) => DEFAULT_SETTINGS.taggableTypes.includes(r.type));
    assert.ok(taggable.length >= 3);
    assert.strictEqual(found["required-tags"].length, taggable.length);
    for (const m of found["required-tags"]) assert.match(m, /lacks the required tag\(s\) project, environment\. Add them to the stack config tags/);
    // One tag set, one missing: only the missing one is named.
    const cluster = underReview(only(dev, TYPES.compute));
    const props = { ...cluster.props, tags: { project: "heart-batch-scoring", environment: " " } };
    assert.match(requiredTags({ ...cluster, props }, { stack: "dev", settings: DEFAULT_SETTINGS }).join(), /lacks the required tag\(s\) environment\./);
  });
});

describe("policy settings and helpers", () => {
  it("production stacks: glob patterns on the stack name, with or without an org prefix", () => {
    assert.ok(isProductionStack("prod", ["prod*"]));
    assert.ok(isProductionStack("acme/prod-weu", ["prod*"]));
    assert.ok(isProductionStack("acme/heart/Production", DEFAULT_SETTINGS.productionStacks));
    assert.ok(!isProductionStack("dev", DEFAULT_SETTINGS.productionStacks));
    assert.ok(!isProductionStack("pr-12", DEFAULT_SETTINGS.productionStacks));
    assert.ok(!isProductionStack("preprod", ["prod*"]), "a pattern matches the whole name");
    assert.ok(isProductionStack("live-1", ["live-?"]) && !isProductionStack("live-12", ["live-?"]));
  });

  it("reads stack and project from a URN", () => {
    assert.deepStrictEqual(parseUrn("urn:pulumi:prod::heart-batch-scoring::heartscoring:infra:HeartScoring$azure-native:machinelearningservices:Compute::batch-cluster"), {
      stack: "prod",
      project: "heart-batch-scoring",
    });
    assert.strictEqual(parseUrn("not-a-urn"), undefined);
  });

  it("settings: defaults, overrides, and a clear error for malformed values", () => {
    assert.deepStrictEqual(settingsFrom({}), DEFAULT_SETTINGS);
    assert.deepStrictEqual(settingsFrom({ requiredTags: ["owner"] }).requiredTags, ["owner"]);
    assert.throws(() => settingsFrom({ productionStacks: "prod*", requiredTags: [1] }), /productionStacks must be a list of strings; policy config requiredTags must be a list of strings/);
  });
});
