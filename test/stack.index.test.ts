/**
 * index.ts itself, under mocks, with the config of Pulumi.dev.yaml: the example stack file is complete and
 * valid, and the program exports exactly the outputs the scripts read.
 */
import assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import YAML from "yaml";
import { PROJECT_ROOT, runProgram } from "./support/pulumiMocks";

function devConfig(): Record<string, string> {
  const doc = YAML.parse(fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.dev.yaml"), "utf8"));
  return Object.fromEntries(Object.entries(doc.config as Record<string, unknown>).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

describe("stack (mocks): index.ts with Pulumi.dev.yaml", function () {
  it("validates the dev config and exports the outputs the scripts read", async () => {
    const project = YAML.parse(fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), "utf8")).name;
    assert.strictEqual(project, "heart-batch-scoring");
    const config = devConfig();
    assert.ok(Object.keys(config).every((k) => k.startsWith(`${project}:`)));
    const run = await runProgram(
      () => {
        pulumi.runtime.setAllConfig(config);
        return { ...require("../index") };
      },
      { project, stack: "dev" },
    );
    assert.deepStrictEqual(Object.keys(run.outputs).sort(), [
      "computeName",
      "datastoreName",
      "defaultDeploymentName",
      "deploymentNames",
      "deployments",
      "endpointName",
      "location",
      "pipelineComponentId",
      "resourceGroupName",
      "scoringUri",
      "subscriptionId",
      "versions",
      "workspaceName",
    ]);
    assert.strictEqual(run.outputs.workspaceName, config[`${project}:workspaceName`]);
    assert.strictEqual(run.outputs.defaultDeploymentName, "uci-classifier-prepros-xgb");
    assert.match(run.outputs.endpointName, /^heart-scoring-dev-[0-9a-f]{6}$/);
    assert.deepStrictEqual(Object.keys(run.outputs.versions).sort(), ["code", "components", "environment", "models"]);
    const compute = run.resources.find((r) => r.type === "azure-native:machinelearningservices:Compute")!;
    assert.deepStrictEqual(compute.inputs.properties.properties.scaleSettings, { minNodeCount: 0, maxNodeCount: 5, nodeIdleTimeBeforeScaleDown: "PT120S" });
    assert.deepStrictEqual(compute.inputs.tags, { project: "heart-batch-scoring", environment: "dev" });
  });

  it("reports every config problem before declaring any resource", async () => {
    const project = "heart-batch-scoring";
    const config: Record<string, string> = { ...devConfig(), [`${project}:maxNodes`]: "-1", [`${project}:endpointBaseName`]: "9-lives", [`${project}:maxNode`]: "3" };
    delete config[`${project}:workspaceName`];
    const indexPath = require.resolve("../index");
    delete require.cache[indexPath];
    let error: Error | undefined;
    const run = await runProgram(
      () => {
        pulumi.runtime.setAllConfig(config);
        try {
          return { ...require("../index") };
        } catch (e) {
          error = e as Error;
          return {};
        } finally {
          delete require.cache[indexPath];
        }
      },
      { project, stack: "dev" },
    );
    assert.ok(error, "index.ts threw");
    assert.strictEqual(error!.name, "ConfigError");
    const problems = (error as unknown as { problems: string[] }).problems;
    assert.deepStrictEqual(problems.map((p) => p.split(" ")[0]).sort(), [`${project}:endpointBaseName`, `${project}:maxNode`, `${project}:maxNodes`, `${project}:workspaceName`].sort());
    assert.deepStrictEqual(run.resources, [], "nothing declared");
  });
});

