/** Stack configuration: defaults, and every invalid value reported with its key and the accepted values. */
import assert from "assert";
import { ConfigError, parseDurationSeconds, RawConfig, validateConfig, ValidationContext } from "../infra/config";
import { endpointName } from "../lib/naming";
import { validateBatchClusterArgs } from "../infra/batchCluster";

const NS = "heart-batch-scoring";
const MODELS = ["heart-classifier-transforms", "heart-classifier"];
const ctx: ValidationContext = { namespace: NS, modelNames: MODELS };
const valid: RawConfig = {
  subscriptionId: "11111111-2222-3333-4444-555555555555",
  resourceGroupName: "rg-heart",
  workspaceName: "mlw-heart",
  location: "westeurope",
};

function problems(raw: RawConfig, c: ValidationContext = ctx): string[] {
  try {
    validateConfig(raw, c);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return [...e.problems];
  }
  return [];
}

describe("config", function () {
  it("fills the documented defaults", () => {
    const c = validateConfig(valid, ctx);
    assert.deepStrictEqual(c, {
      workspace: { subscriptionId: valid.subscriptionId, resourceGroupName: "rg-heart", workspaceName: "mlw-heart" },
      location: "westeurope",
      compute: { name: "batch-cluster", vmSize: "Standard_DS3_v2", minNodes: 0, maxNodes: 5 },
      parallel: { instanceCount: 5, maxConcurrencyPerInstance: 4 },
      endpointBaseName: "heart-scoring",
      datastoreName: "workspaceblobstore",
      deployments: [
        { name: "uci-classifier-prepros-xgb", isDefault: true, models: { "heart-classifier-transforms": "models/heart-classifier-transforms", "heart-classifier": "models/heart-classifier" } },
      ],
      retainAssetsOnDestroy: true,
      tags: {},
    });
  });

  it("reads every optional key", () => {
    const c = validateConfig(
      {
        ...valid,
        computeName: "cpu-cluster",
        vmSize: "Standard_D2s_v3",
        minNodes: "1",
        maxNodes: "3",
        idleTimeBeforeScaleDown: "PT10M",
        vmPriority: "lowpriority",
        endpointBaseName: "uci-heart",
        deploymentName: "blue",
        datastoreName: "mystore",
        retainAssetsOnDestroy: "false",
        tags: JSON.stringify({ team: "ml", cost: 42 }),
      },
      ctx,
    );
    assert.deepStrictEqual(c.compute, { name: "cpu-cluster", vmSize: "Standard_D2s_v3", minNodes: 1, maxNodes: 3, idleSeconds: 600, vmPriority: "LowPriority" });
    assert.strictEqual(c.endpointBaseName, "uci-heart");
    assert.strictEqual(c.deployments[0].name, "blue");
    assert.strictEqual(c.datastoreName, "mystore");
    assert.strictEqual(c.retainAssetsOnDestroy, false);
    assert.deepStrictEqual(c.tags, { team: "ml", cost: "42" });
  });

  it("reads the parallel steps' settings; instanceCount follows maxNodes unless set", () => {
    const c = validateConfig(
      { ...valid, maxNodes: "3", instanceCount: "2", maxConcurrencyPerInstance: "8", miniBatchSize: "4", maxRetries: "0", miniBatchTimeout: "PT15M", miniBatchErrorThreshold: "-1" },
      ctx,
    );
    assert.deepStrictEqual(c.parallel, { instanceCount: 2, maxConcurrencyPerInstance: 8, miniBatchSize: 4, maxRetries: 0, miniBatchTimeoutSeconds: 900, miniBatchErrorThreshold: -1 });
    assert.deepStrictEqual(validateConfig({ ...valid, maxNodes: "3", miniBatchTimeout: "120" }, ctx).parallel, { instanceCount: 3, maxConcurrencyPerInstance: 4, miniBatchTimeoutSeconds: 120 });
  });

  it("rejects parallel settings out of range, instanceCount above maxNodes included, all at once", () => {
    assert.deepStrictEqual(
      problems({ ...valid, maxNodes: "2", instanceCount: "3", maxConcurrencyPerInstance: "0", miniBatchSize: "1.5", maxRetries: "-1", miniBatchTimeout: "P400D", miniBatchErrorThreshold: "-2" }),
      [
        `${NS}:instanceCount = "3" is not valid: expected a whole number of nodes from 1 to ${NS}:maxNodes (2): a parallel step cannot use more nodes than the cluster has`,
        `${NS}:maxConcurrencyPerInstance = "0" is not valid: expected a whole number of worker processes per node from 1 to 64 (usually the node's vCPUs)`,
        `${NS}:miniBatchSize = "1.5" is not valid: expected a whole number of files per mini-batch >= 1`,
        `${NS}:maxRetries = "-1" is not valid: expected a whole number of retries from 0 to 100`,
        `${NS}:miniBatchTimeout = "P400D" is not valid: expected the seconds one mini-batch may take, from 1 to 259200: whole seconds or an ISO-8601 duration such as PT10M`,
        `${NS}:miniBatchErrorThreshold = "-2" is not valid: expected a whole number >= -1 (failed mini-batches tolerated; -1 tolerates all, 0 fails the step on the first)`,
      ],
    );
  });

  it("rejects max nodes below min nodes", () => {
    assert.deepStrictEqual(problems({ ...valid, minNodes: "3", maxNodes: "2" }), [
      `${NS}:maxNodes (2) is less than ${NS}:minNodes (3): expected maxNodes >= minNodes`,
    ]);
  });

  it("rejects negative and non-integer node counts", () => {
    assert.deepStrictEqual(problems({ ...valid, minNodes: "-1" }), [`${NS}:minNodes = -1 is negative: expected an integer >= 0`]);
    assert.deepStrictEqual(problems({ ...valid, maxNodes: "2.5" }), [`${NS}:maxNodes = "2.5" is not a whole number: expected an integer >= 0`]);
    assert.deepStrictEqual(problems({ ...valid, maxNodes: "0" }), [`${NS}:maxNodes = 0: expected at least 1 (the pipeline needs a node to run)`]);
  });

  it("rejects a bad idle duration and accepts ISO-8601 or seconds", () => {
    const [p] = problems({ ...valid, idleTimeBeforeScaleDown: "2 minutes" });
    assert.match(p, /^heart-batch-scoring:idleTimeBeforeScaleDown = "2 minutes" is not a duration: expected an ISO-8601 duration such as PT2M or PT120S, or a whole number of seconds > 0$/);
    assert.strictEqual(problems({ ...valid, idleTimeBeforeScaleDown: "PT0S" }).length, 1);
    assert.strictEqual(parseDurationSeconds("PT1H2M3S"), 3723);
    assert.strictEqual(parseDurationSeconds("P1D"), 86400);
    assert.strictEqual(parseDurationSeconds("180"), 180);
    assert.strictEqual(parseDurationSeconds("PT"), undefined);
    assert.strictEqual(parseDurationSeconds("P"), undefined);
    assert.strictEqual(parseDurationSeconds("PT1.5M"), undefined);
    assert.strictEqual(validateConfig({ ...valid, idleTimeBeforeScaleDown: "300" }, ctx).compute.idleSeconds, 300);
  });

  it("rejects an endpoint base name that breaks the naming rule", () => {
    for (const bad of ["1heart", "he", "heart_scoring", "heart-", "a-very-long-endpoint-base"]) {
      const [p] = problems({ ...valid, endpointBaseName: bad });
      assert.strictEqual(
        p,
        `${NS}:endpointBaseName = ${JSON.stringify(bad)} must be 3-16 characters: a letter first, then letters, digits or hyphens, not ending in a hyphen (e.g. "heart-scoring")`,
      );
    }
  });

  it("requires the workspace coordinates and location", () => {
    assert.deepStrictEqual(problems({ location: "westeurope" }), [
      `${NS}:subscriptionId is required: the subscription id (a GUID) of the existing Azure ML workspace`,
      `${NS}:resourceGroupName is required: the resource group of the existing workspace (1-90 letters, digits, -_.())`,
      `${NS}:workspaceName is required: the name of the existing Azure ML workspace (3-33 letters, digits, - or _, a letter or digit first)`,
    ]);
    assert.deepStrictEqual(problems({ ...valid, location: undefined }), [`${NS}:location is required: the workspace's Azure region in lower case, e.g. westeurope`]);
    assert.match(problems({ ...valid, subscriptionId: "my-sub" })[0], /^heart-batch-scoring:subscriptionId = "my-sub" is not valid: the subscription id \(a GUID\)/);
  });

  it("reports several problems at once", () => {
    const p = problems({ workspaceName: "mlw", location: "westeurope", minNodes: "-2", maxNodes: "x", idleTimeBeforeScaleDown: "soon", vmPriority: "Spot", endpointBaseName: "9lives", computeName: "c" });
    assert.strictEqual(p.length, 8, p.join("\n"));
    for (const k of ["subscriptionId", "resourceGroupName", "minNodes", "maxNodes", "idleTimeBeforeScaleDown", "vmPriority", "endpointBaseName", "computeName"]) {
      assert.ok(p.some((m) => m.startsWith(`${NS}:${k}`)), `a problem names ${k}`);
    }
    assert.ok(p.some((m) => m === `${NS}:vmPriority = "Spot" is not valid: expected one of Dedicated, LowPriority`));
    try {
      validateConfig({ workspaceName: "mlw" }, ctx);
      assert.fail("expected ConfigError");
    } catch (e) {
      assert.match((e as Error).message, /^Invalid stack configuration \(3 problems\):\n  - heart-batch-scoring:subscriptionId/);
    }
  });

  it("reports unknown keys (typos) with the known ones", () => {
    const [p] = problems(valid, { ...ctx, unknownKeys: ["maxNode"] });
    assert.match(p, /^heart-batch-scoring:maxNode is not a key this stack reads \(known: subscriptionId, .*maxNodes.*\)$/);
  });

  it("reads a list of deployments with exactly one default", () => {
    const c = validateConfig(
      {
        ...valid,
        deployments: JSON.stringify([
          { name: "blue", default: true },
          { name: "green", models: { "heart-classifier": "candidates/heart-classifier" } },
        ]),
      },
      ctx,
    );
    assert.deepStrictEqual(c.deployments, [
      { name: "blue", isDefault: true, models: { "heart-classifier-transforms": "models/heart-classifier-transforms", "heart-classifier": "models/heart-classifier" } },
      { name: "green", isDefault: false, models: { "heart-classifier-transforms": "models/heart-classifier-transforms", "heart-classifier": "candidates/heart-classifier" } },
    ]);
  });

  it("rejects deployment lists without exactly one default, duplicates, unknown models and missing folders", () => {
    const d = (list: unknown) => problems({ ...valid, deployments: JSON.stringify(list) }, { ...ctx, folderExists: (f) => !f.includes("missing") });
    assert.deepStrictEqual(d([{ name: "blue" }, { name: "green" }]), [`${NS}:deployments: exactly one deployment must have default: true (found 0)`]);
    assert.deepStrictEqual(d([{ name: "blue", default: true }, { name: "green", default: true }]), [`${NS}:deployments: exactly one deployment must have default: true (found 2)`]);
    assert.deepStrictEqual(d([{ name: "blue", default: true }, { name: "blue" }]), [`${NS}:deployments: name blue is used more than once`]);
    assert.deepStrictEqual(d([{ name: "blue", default: true, models: { "heart-model": "x" } }]), [
      `${NS}:deployments[0].models.heart-model is not a model the pipeline binds (known: heart-classifier-transforms, heart-classifier)`,
    ]);
    assert.deepStrictEqual(d([{ name: "blue", default: true, models: { "heart-classifier": "missing/here" } }]), [
      `${NS}:deployments[0].models.heart-classifier = "missing/here": folder not found`,
    ]);
    assert.deepStrictEqual(d([{ name: "-x", default: true }]), [
      `${NS}:deployments[0].name = "-x" must be 3-32 characters: a letter first, then letters, digits or hyphens, not ending in a hyphen`,
    ]);
    assert.deepStrictEqual(d([]), [`${NS}:deployments must be a non-empty list of {name, default?, models?}`]);
    assert.deepStrictEqual(problems({ ...valid, deploymentName: "blue", deployments: JSON.stringify([{ name: "blue", default: true }]) }), [
      `${NS}:deploymentName and ${NS}:deployments are both set: name the deployments in ${NS}:deployments only`,
    ]);
  });

  it("derives an endpoint name unique per stack and region, within 32 characters", () => {
    const ws = { subscriptionId: valid.subscriptionId!, resourceGroupName: "rg", workspaceName: "mlw" };
    const dev = endpointName("heart-scoring", "dev", "westeurope", ws);
    assert.match(dev, /^heart-scoring-dev-[0-9a-f]{6}$/);
    assert.strictEqual(endpointName("heart-scoring", "dev", "westeurope", ws), dev, "deterministic");
    assert.notStrictEqual(endpointName("heart-scoring", "dev", "northeurope", ws), dev, "per region");
    assert.notStrictEqual(endpointName("heart-scoring", "prod", "westeurope", ws), dev, "per stack");
    const long = endpointName("heart-scoring-xyz", "pull-request-12345-feature_branch", "westeurope", ws);
    assert.ok(long.length <= 32, long);
    assert.match(long, /^[a-z]([-a-z0-9]*[a-z0-9])?$/);
  });

  it("checks the cluster's own args too (for callers other than the config)", () => {
    const ws = { subscriptionId: valid.subscriptionId!, resourceGroupName: "rg", workspaceName: "mlw" };
    const args = { workspace: ws, location: "westeurope", computeName: "c1", vmSize: "Standard_DS3_v2", minNodeCount: 0, maxNodeCount: 2 };
    assert.deepStrictEqual(validateBatchClusterArgs(args), []);
    assert.deepStrictEqual(validateBatchClusterArgs({ ...args, minNodeCount: 3, idleSeconds: 0 }), [
      "maxNodeCount (2) must be >= minNodeCount (3)",
      "idleSeconds must be a whole number > 0 (got 0)",
    ]);
  });
});
