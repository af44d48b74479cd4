/**
 * The whole stack under Pulumi mocks: every resource with its exact inputs, the parent of every resource,
 * the outputs, and what preview does (nothing that touches Azure). Expected hashes and versions are computed
 * from the files in the checkout, so the tests hold as the models and code change.
 */
import assert from "assert";
import * as path from "path";
import { find, findAll, key, MOCK_ACCOUNT, MOCK_CONTAINER, PROJECT_ROOT, ProgramRun, rawConfig, runProgram, stackProgram, TEST_WORKSPACE } from "./support/pulumiMocks";
import { hashFolder } from "../lib/contentHash";
import { assetVersion, assetVersionId, datastoreUri, endpointName, modelVersion } from "../lib/naming";
import { loadEnvironment, loadPipeline } from "../lib/componentYaml";
import { componentSpec, pipelineComponentSpec } from "../lib/componentSpec";
import { callCount } from "../lib/callStats";
import { parallelSettings } from "../infra/plan";

const ML = "azure-native:machinelearningservices";
const UPLOAD = "pulumi-nodejs:dynamic/heartscoring:FolderUpload";
const POINTER = "pulumi-nodejs:dynamic/heartscoring:DefaultDeployment";
const ASSET = "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion";
const ws = TEST_WORKSPACE;
const wsId = `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroupName}/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspaceName}`;

/** What the checkout's files say the stack must register. */
function expected() {
  const hash = (rel: string) => hashFolder(path.join(PROJECT_ROOT, rel)).hash;
  const models = {
    "heart-classifier": { hash: hash("models/heart-classifier"), type: "mlflow_model" },
    "heart-classifier-transforms": { hash: hash("models/heart-classifier-transforms"), type: "custom_model" },
  };
  const modelVersions = Object.fromEntries(Object.entries(models).map(([n, m]) => [n, modelVersion(m.hash)]));
  const code = { prepare: hash("components/prepare/src"), score: hash("components/score/src") };
  const env = loadEnvironment();
  const envVersion = assetVersion(require("../lib/naming").sha256Hex(require("../lib/naming").canonicalJson({ image: env.image, condaFile: env.condaText, osType: "Linux" })));
  const envId = assetVersionId(ws, "environments", env.name, envVersion);
  const pipeline = loadPipeline();
  const components = Object.fromEntries(
    pipeline.steps.map((s) => {
      const name = s.component.spec.name;
      const codeId = assetVersionId(ws, "codes", `${name}-code`, assetVersion(code[name as "prepare" | "score"]));
      return [name, componentSpec(s.component, { codeId, environmentIds: { [env.name]: envId } })];
    }),
  );
  const pipelineSpec = pipelineComponentSpec(pipeline, {
    componentIds: Object.fromEntries(Object.entries(components).map(([n, c]) => [n, assetVersionId(ws, "components", n, c.version)])),
    modelIds: Object.fromEntries(Object.entries(modelVersions).map(([n, v]) => [n, assetVersionId(ws, "models", n, v)])),
    // The default config's: instanceCount = maxNodes (5), 4 workers per node (pinned literally in a test below).
    parallel: parallelSettings({ instanceCount: 5, maxConcurrencyPerInstance: 4 }),
  });
  const descriptions: Record<string, string | undefined> = {
    ...Object.fromEntries(pipeline.steps.map((s) => [s.component.spec.name, s.component.spec.description])),
    [pipeline.spec.name]: pipeline.spec.description,
  };
  return { models, modelVersions, code, env, envVersion, envId, components, pipelineSpec, descriptions };
}

/** An asset version's inputs without the serialized provider (checked to be there). */
function assetInputs(run: ProgramRun, name: string): Record<string, any> {
  const { __provider, ...inputs } = find(run, ASSET, name).inputs;
  assert.strictEqual(typeof __provider, "string", `${name} carries its serialized provider`);
  return inputs;
}

describe("stack (mocks): resource graph", function () {
  let run: ProgramRun;
  let exp: ReturnType<typeof expected>;
  before(async () => {
    exp = expected();
    run = await runProgram(stackProgram(rawConfig({ idleTimeBeforeScaleDown: "PT2M", vmPriority: "LowPriority", tags: JSON.stringify({ team: "ml" }) })));
  });

  it("declares exactly the expected resources", () => {
    const names = run.resources.map((r) => key(r.type, r.name)).sort();
    const mv = exp.modelVersions;
    const expectedNames = [
      "pulumi:providers:azure-native::workspace-subscription",
      "heartscoring:infra:HeartScoring::heart-scoring",
      "heartscoring:infra:BatchCluster::batch-cluster",
      `${ML}:Compute::batch-cluster`,
      "heartscoring:infra:ScoringEnvironment::uci-heart-scoring",
      `${ASSET}::uci-heart-scoring-${exp.envVersion}`,
      ...["prepare", "score"].flatMap((c) => [
        `heartscoring:infra:ParallelComponent::${c}`,
        `${UPLOAD}::${c}-code-${exp.code[c as "prepare"].slice(0, 12)}`,
        `${ASSET}::${c}-code-${assetVersion(exp.code[c as "prepare"])}`,
        `${ASSET}::${c}-${exp.components[c].version}`,
      ]),
      ...Object.entries(exp.models).flatMap(([n, m]) => [
        `heartscoring:infra:RegisteredModel::${n}-${mv[n]}`,
        `${UPLOAD}::${n}-${m.hash.slice(0, 12)}`,
        `${ASSET}::${n}-${mv[n]}`,
      ]),
      `heartscoring:infra:PipelineComponent::uci_heart_classifier_scorer-${exp.pipelineSpec.version}`,
      `${ASSET}::uci_heart_classifier_scorer-${exp.pipelineSpec.version}`,
      "heartscoring:infra:ScoringEndpoint::endpoint",
      `${ML}:BatchEndpoint::${endpointName("heart-scoring", "test", "westeurope", ws)}`,
      "heartscoring:infra:PipelineDeployment::uci-classifier-prepros-xgb",
      `${ML}:BatchDeployment::uci-classifier-prepros-xgb`,
      `${POINTER}::default-deployment`,
    ].sort();
    assert.deepStrictEqual(names, expectedNames);
    assert.deepStrictEqual(run.calls, [], "no invokes");
  });

  it("gives every resource the parent the design says", () => {
    const parentOf = Object.fromEntries(run.resources.map((r) => [key(r.type, r.name), r.parent]));
    const root = "heartscoring:infra:HeartScoring::heart-scoring";
    for (const r of run.resources) {
      if (r.type === "heartscoring:infra:HeartScoring" || r.type.startsWith("pulumi:providers:")) {
        assert.strictEqual(r.parent, "pulumi:pulumi:Stack", key(r.type, r.name));
      } else if (r.type.startsWith("heartscoring:infra:")) {
        assert.strictEqual(r.parent, root, key(r.type, r.name));
      } else {
        assert.match(r.parent, /^heartscoring:infra:(BatchCluster|ScoringEnvironment|ParallelComponent|RegisteredModel|PipelineComponent|ScoringEndpoint|PipelineDeployment)::/, key(r.type, r.name));
      }
    }
    assert.strictEqual(parentOf[`${ML}:Compute::batch-cluster`], "heartscoring:infra:BatchCluster::batch-cluster");
    assert.strictEqual(parentOf[`${POINTER}::default-deployment`], "heartscoring:infra:ScoringEndpoint::endpoint");
    assert.strictEqual(parentOf[`${ML}:BatchDeployment::uci-classifier-prepros-xgb`], "heartscoring:infra:PipelineDeployment::uci-classifier-prepros-xgb");
    const mv = exp.modelVersions["heart-classifier"];
    assert.strictEqual(parentOf[`${ASSET}::heart-classifier-${mv}`], `heartscoring:infra:RegisteredModel::heart-classifier-${mv}`);
    assert.strictEqual(parentOf[`${UPLOAD}::heart-classifier-${exp.models["heart-classifier"].hash.slice(0, 12)}`], `heartscoring:infra:RegisteredModel::heart-classifier-${mv}`);
    assert.strictEqual(parentOf[`${ASSET}::prepare-code-${assetVersion(exp.code.prepare)}`], "heartscoring:infra:ParallelComponent::prepare");
  });

  it("uses the configured subscription through an explicit provider", () => {
    assert.deepStrictEqual(find(run, "pulumi:providers:azure-native").inputs, { subscriptionId: ws.subscriptionId, location: "westeurope", environment: "public" });
  });

  it("declares the cluster with a system-assigned identity and the scale settings", () => {
    const c = find(run, `${ML}:Compute`).inputs;
    assert.deepStrictEqual(
      { computeName: c.computeName, resourceGroupName: c.resourceGroupName, workspaceName: c.workspaceName, location: c.location, identity: c.identity, tags: c.tags },
      { computeName: "batch-cluster", resourceGroupName: ws.resourceGroupName, workspaceName: ws.workspaceName, location: "westeurope", identity: { type: "SystemAssigned" }, tags: { team: "ml" } },
    );
    assert.strictEqual(c.properties.computeType, "AmlCompute");
    assert.strictEqual(c.properties.properties.vmSize, "Standard_DS3_v2");
    assert.strictEqual(c.properties.properties.vmPriority, "LowPriority");
    assert.deepStrictEqual(c.properties.properties.scaleSettings, { minNodeCount: 0, maxNodeCount: 5, nodeIdleTimeBeforeScaleDown: "PT120S" });
  });

  it("uploads each model and code folder under its content path, and registers it from there", () => {
    for (const [name, m] of Object.entries(exp.models)) {
      const upload = find(run, UPLOAD, `${name}-${m.hash.slice(0, 12)}`).inputs;
      assert.deepStrictEqual(
        { ...upload, __provider: undefined },
        { ...ws, datastoreName: "workspaceblobstore", folderName: name, hash: m.hash, source: `models/${name}`, __provider: undefined },
      );
      assert.strictEqual(typeof upload.__provider, "string");
      const v = exp.modelVersions[name];
      assert.match(v, /^[1-9][0-9]*$/, "model versions are positive integers");
      assert.deepStrictEqual(assetInputs(run, `${name}-${v}`), {
        ...ws,
        assetKind: "models",
        name,
        version: v,
        retainOnDestroy: true,
        properties: {
          modelType: m.type,
          modelUri: `azureml://subscriptions/${ws.subscriptionId}/resourcegroups/${ws.resourceGroupName}/workspaces/${ws.workspaceName}/datastores/workspaceblobstore/paths/LocalUpload/${m.hash}/${name}`,
          isAnonymous: false,
          isArchived: false,
        },
      });
    }
    for (const c of ["prepare", "score"] as const) {
      const h = exp.code[c];
      const upload = find(run, UPLOAD, `${c}-code-${h.slice(0, 12)}`).inputs;
      assert.strictEqual(upload.source, `components/${c}/src`);
      assert.strictEqual(upload.folderName, "src");
      assert.strictEqual(upload.hash, h);
      assert.deepStrictEqual(assetInputs(run, `${c}-code-${assetVersion(h)}`), {
        ...ws,
        assetKind: "codes",
        name: `${c}-code`,
        version: assetVersion(h),
        retainOnDestroy: true,
        properties: { codeUri: `https://${MOCK_ACCOUNT}.blob.core.windows.net/${MOCK_CONTAINER}/LocalUpload/${h}/src`, isAnonymous: false, isArchived: false },
      });
    }
  });

  it("registers the environment from components/environment", () => {
    assert.ok(exp.env.description, "environment.yml has a description");
    assert.deepStrictEqual(assetInputs(run, `uci-heart-scoring-${exp.envVersion}`), {
      ...ws,
      assetKind: "environments",
      name: "uci-heart-scoring",
      version: exp.envVersion,
      retainOnDestroy: true,
      properties: {
        image: exp.env.image,
        condaFile: exp.env.condaText,
        osType: "Linux",
        autoRebuild: "Disabled",
        description: exp.env.description,
        isAnonymous: false,
        isArchived: false,
      },
    });
  });

  it("registers the parallel components with the task's code and environment pinned to the registered versions", () => {
    for (const c of ["prepare", "score"] as const) {
      const spec = exp.components[c];
      const r = assetInputs(run, `${c}-${spec.version}`);
      assert.deepStrictEqual({ ...r }, {
        ...ws,
        assetKind: "components",
        name: c,
        version: spec.version,
        retainOnDestroy: true,
        properties: { componentSpec: spec.spec, description: exp.descriptions[c], isAnonymous: false, isArchived: false },
      });
      const cs = r.properties.componentSpec;
      assert.strictEqual(cs.type, "parallel");
      assert.deepStrictEqual(cs.task, {
        type: "run_function",
        code: `azureml:${wsId}/codes/${c}-code/versions/${assetVersion(exp.code[c])}`,
        entry_script: `${c}.py`,
        environment: `azureml:${wsId}/environments/uci-heart-scoring/versions/${exp.envVersion}`,
        program_arguments: cs.task.program_arguments,
      });
      assert.match(cs.task.program_arguments, /^--data \$\{\{inputs\.data\}\} /);
      assert.strictEqual(cs.input_data, "${{inputs.data}}");
      // The component's own run settings, as its YAML writes them (mini_batch_size as the schema's string).
      assert.deepStrictEqual(
        [cs.mini_batch_size, cs.resources, cs.max_concurrency_per_instance, cs.mini_batch_error_threshold, cs.retry_settings, cs.logging_level],
        ["1", { instance_count: 1 }, 1, 0, { max_retries: 2, timeout: 600 }, "INFO"],
      );
      assert.strictEqual(cs.code, undefined, "no top-level code or command on a parallel component");
      assert.strictEqual(cs.command, undefined);
      assert.strictEqual(r.properties.componentSpec.version, spec.version);
    }
  });

  it("registers the pipeline component with its steps pinned to the registered components and models", () => {
    const p = exp.pipelineSpec;
    const r = assetInputs(run, `uci_heart_classifier_scorer-${p.version}`);
    assert.deepStrictEqual({ ...r }, {
      ...ws,
      assetKind: "components",
      name: "uci_heart_classifier_scorer",
      version: p.version,
      retainOnDestroy: true,
      properties: { componentSpec: p.spec, description: exp.descriptions.uci_heart_classifier_scorer, isAnonymous: false, isArchived: false },
    });
    const jobs = r.properties.componentSpec.jobs;
    assert.strictEqual(jobs.prepare.componentId, `${wsId}/components/prepare/versions/${exp.components.prepare.version}`);
    assert.strictEqual(jobs.score.componentId, `${wsId}/components/score/versions/${exp.components.score.version}`);
    assert.deepStrictEqual(jobs.prepare.inputs.transformations, {
      job_input_type: "custom_model",
      uri: `${wsId}/models/heart-classifier-transforms/versions/${exp.modelVersions["heart-classifier-transforms"]}`,
    });
    assert.deepStrictEqual(jobs.score.inputs.model, { job_input_type: "mlflow_model", uri: `${wsId}/models/heart-classifier/versions/${exp.modelVersions["heart-classifier"]}` });
    assert.deepStrictEqual(jobs.score.inputs.data, { job_input_type: "literal", value: "${{parent.jobs.prepare.outputs.prepared_data}}" });
    assert.deepStrictEqual(jobs.prepare.inputs.data, { job_input_type: "literal", value: "${{parent.inputs.input_data}}" });
    assert.deepStrictEqual(jobs.score.outputs.scores, { type: "literal", value: "${{parent.outputs.scores}}" });
    // Parallel nodes carry the run settings from config (defaults: every node of the cluster, 4 workers each)
    // over the component's (mini_batch_size an integer on a node, as azure-ai-ml's Parallel node sends it).
    for (const step of ["prepare", "score"]) {
      const { name, type, componentId, inputs, outputs, ...settings } = jobs[step];
      assert.strictEqual(type, "parallel");
      assert.deepStrictEqual(settings, {
        resources: { instance_count: 5 },
        max_concurrency_per_instance: 4,
        mini_batch_size: 1,
        mini_batch_error_threshold: 0,
        retry_settings: { max_retries: 2, timeout: 600 },
        logging_level: "INFO",
      }, step);
    }
  });

  it("sets the configured parallel settings on both nodes: a new pipeline version, the same step components", async () => {
    const tuned = await runProgram(
      stackProgram(rawConfig({ maxNodes: "3", instanceCount: "2", maxConcurrencyPerInstance: "8", miniBatchSize: "5", maxRetries: "0", miniBatchTimeout: "PT30M", miniBatchErrorThreshold: "-1" })),
    );
    const pipelines = findAll(tuned, ASSET).filter((r) => r.inputs.name === "uci_heart_classifier_scorer");
    assert.strictEqual(pipelines.length, 1);
    assert.notStrictEqual(pipelines[0].inputs.version, exp.pipelineSpec.version);
    for (const step of ["prepare", "score"]) {
      const { name, type, componentId, inputs, outputs, ...settings } = pipelines[0].inputs.properties.componentSpec.jobs[step];
      assert.strictEqual(componentId, `${wsId}/components/${step}/versions/${exp.components[step].version}`, "the step component is unchanged");
      assert.deepStrictEqual(settings, {
        resources: { instance_count: 2 },
        max_concurrency_per_instance: 8,
        mini_batch_size: 5,
        mini_batch_error_threshold: -1,
        retry_settings: { max_retries: 0, timeout: 1800 },
        logging_level: "INFO",
      });
    }
    assert.deepStrictEqual(find(tuned, `${ML}:Compute`).inputs.properties.properties.scaleSettings.maxNodeCount, 3);
  });

  it("declares the endpoint with Entra auth, component deployments enabled and no default of its own", () => {
    const name = endpointName("heart-scoring", "test", "westeurope", ws);
    assert.ok(name.length >= 3 && name.length <= 32);
    const e = find(run, `${ML}:BatchEndpoint`).inputs;
    assert.deepStrictEqual(e, {
      endpointName: name,
      resourceGroupName: ws.resourceGroupName,
      workspaceName: ws.workspaceName,
      location: "westeurope",
      properties: {
        authMode: "AADToken",
        description: "UCI Heart Disease batch scoring with preprocessing",
        properties: { "ComponentDeployment.Enabled": "true" },
      },
      tags: { team: "ml" },
    });
  });

  it("deploys the pipeline component on the cluster, steps not continuing on failure", () => {
    const d = find(run, `${ML}:BatchDeployment`).inputs;
    assert.strictEqual(d.deploymentName, "uci-classifier-prepros-xgb");
    assert.strictEqual(d.endpointName, endpointName("heart-scoring", "test", "westeurope", ws));
    assert.strictEqual(d.location, "westeurope");
    assert.deepStrictEqual(d.properties.deploymentConfiguration, {
      deploymentConfigurationType: "PipelineComponent",
      componentId: { referenceType: "Id", assetId: `${wsId}/components/uci_heart_classifier_scorer/versions/${exp.pipelineSpec.version}` },
      settings: { default_compute: "batch-cluster", continue_on_step_failure: "false" },
    });
    assert.strictEqual(d.properties.compute, undefined, "no deployment-level compute: default_compute decides");
  });

  it("points the endpoint's default at the deployment through its own resource", () => {
    const p = find(run, POINTER).inputs;
    assert.deepStrictEqual(
      { ...p, __provider: undefined, endpointRevision: undefined },
      { ...ws, endpointName: endpointName("heart-scoring", "test", "westeurope", ws), deploymentName: "uci-classifier-prepros-xgb", __provider: undefined, endpointRevision: undefined },
    );
    assert.match(p.endpointRevision, /^[0-9a-f]{16}$/);
  });

  it("exports what the scripts read", () => {
    const name = endpointName("heart-scoring", "test", "westeurope", ws);
    assert.deepStrictEqual(run.outputs, {
      subscriptionId: ws.subscriptionId,
      resourceGroupName: ws.resourceGroupName,
      workspaceName: ws.workspaceName,
      location: "westeurope",
      endpointName: name,
      scoringUri: `https://${name}.westeurope.inference.ml.azure.com/jobs`,
      defaultDeploymentName: "uci-classifier-prepros-xgb",
      deploymentNames: ["uci-classifier-prepros-xgb"],
      datastoreName: "workspaceblobstore",
      computeName: "batch-cluster",
      pipelineComponentId: `${wsId}/components/uci_heart_classifier_scorer/versions/${exp.pipelineSpec.version}`,
      versions: {
        models: exp.modelVersions,
        components: { prepare: exp.components.prepare.version, score: exp.components.score.version, uci_heart_classifier_scorer: exp.pipelineSpec.version },
        environment: { "uci-heart-scoring": exp.envVersion },
        code: { "prepare-code": assetVersion(exp.code.prepare), "score-code": assetVersion(exp.code.score) },
      },
      deployments: [
        {
          name: "uci-classifier-prepros-xgb",
          isDefault: true,
          pipelineComponentId: `${wsId}/components/uci_heart_classifier_scorer/versions/${exp.pipelineSpec.version}`,
          models: exp.modelVersions,
        },
      ],
    });
    assert.doesNotMatch(JSON.stringify(run.outputs), /key|secret|token|password/i);
  });

  it("keeps asset versions on destroy through their own retainOnDestroy input, and no resource uses retainOnDelete", async () => {
    // The provider decides (it must still be asked, to never delete a version it adopted): no engine-level retain.
    for (const r of run.resources) assert.strictEqual(r.retainOnDelete, false, key(r.type, r.name));
    const assets = findAll(run, ASSET);
    assert.deepStrictEqual(assets.map((r) => r.inputs.assetKind).sort(), ["codes", "codes", "components", "components", "components", "environments", "models", "models"]);
    assert.ok(assets.every((r) => r.inputs.retainOnDestroy === true), "retainAssetsOnDestroy defaults to true");
    const deleting = await runProgram(stackProgram(rawConfig({ retainAssetsOnDestroy: "false" })));
    assert.ok(findAll(deleting, ASSET).every((r) => r.inputs.retainOnDestroy === false));
  });

  it("every pinned ARM id the specs and the deployment name is a version the stack registers", () => {
    const registered = new Set(
      findAll(run, ASSET).map((r) => {
        const { subscriptionId, resourceGroupName, workspaceName, assetKind, name, version } = r.inputs;
        assert.strictEqual(r.inputs.armId, undefined, "armId is an output, not an input");
        return assetVersionId({ subscriptionId, resourceGroupName, workspaceName }, assetKind, name, version);
      }),
    );
    const text = JSON.stringify([...findAll(run, ASSET).map((r) => r.inputs.properties), find(run, `${ML}:BatchDeployment`).inputs]);
    const pinned = [...new Set(text.match(/\/subscriptions\/[^"]+?\/versions\/[^"/]+/g) ?? [])];
    assert.strictEqual(pinned.length, 8, pinned.join("\n"));
    for (const id of pinned) assert.ok(registered.has(id), `${id} is registered by the stack`);
    assert.strictEqual(run.outputs.pipelineComponentId, assetVersionId(ws, "components", "uci_heart_classifier_scorer", exp.pipelineSpec.version));
  });

  it("orders creation and destroy through explicit dependencies", () => {
    const deps = (type: string) => find(run, type).dependsOn;
    const pv = exp.pipelineSpec.version;
    const mv = exp.modelVersions;
    // The pointer depends on the deployment: destroy releases it before deleting the deployment.
    assert.deepStrictEqual(deps(POINTER), [`${ML}:BatchDeployment::uci-classifier-prepros-xgb`, `${ML}:BatchEndpoint::${endpointName("heart-scoring", "test", "westeurope", ws)}`]);
    assert.deepStrictEqual(deps(`${ML}:BatchDeployment`), [
      `${ML}:BatchEndpoint::${endpointName("heart-scoring", "test", "westeurope", ws)}`,
      `${ML}:Compute::batch-cluster`,
      `${ASSET}::uci_heart_classifier_scorer-${pv}`,
    ]);
    assert.deepStrictEqual(find(run, ASSET, `uci_heart_classifier_scorer-${pv}`).dependsOn, [
      `${ASSET}::heart-classifier-${mv["heart-classifier"]}`,
      `${ASSET}::heart-classifier-transforms-${mv["heart-classifier-transforms"]}`,
      `${ASSET}::prepare-${exp.components.prepare.version}`,
      `${ASSET}::score-${exp.components.score.version}`,
    ]);
    assert.deepStrictEqual(find(run, ASSET, `heart-classifier-${mv["heart-classifier"]}`).dependsOn, [
      `${UPLOAD}::heart-classifier-${exp.models["heart-classifier"].hash.slice(0, 12)}`,
    ]);
    assert.deepStrictEqual(find(run, ASSET, `prepare-${exp.components.prepare.version}`).dependsOn, [
      `${ASSET}::prepare-code-${assetVersion(exp.code.prepare)}`,
      `${ASSET}::uci-heart-scoring-${exp.envVersion}`,
    ]);
  });

  it("lets the pointer own the endpoint's default: the endpoint ignores changes to it", () => {
    assert.deepStrictEqual(find(run, `${ML}:BatchEndpoint`).ignoreChanges, ["properties.defaults", 'tags["heart-scoring-default-owner"]']);
  });

  it("builds data store URIs the way the SDK writes them", () => {
    assert.strictEqual(datastoreUri(ws, "ds", "a/b"), `azureml://subscriptions/${ws.subscriptionId}/resourcegroups/${ws.resourceGroupName}/workspaces/${ws.workspaceName}/datastores/ds/paths/a/b`);
  });
});

describe("stack (mocks): preview", function () {
  it("declares the same graph in preview without uploading or calling Azure", async () => {
    const kinds = ["blob-upload", "arm-datastore", "arm-endpoint", "arm-asset"];
    const before = kinds.map(callCount);
    const preview = await runProgram(stackProgram(rawConfig()), { dryRun: true });
    const up = await runProgram(stackProgram(rawConfig()));
    assert.deepStrictEqual(preview.resources.map((r) => key(r.type, r.name)).sort(), up.resources.map((r) => key(r.type, r.name)).sort());
    assert.deepStrictEqual(kinds.map(callCount), before, "no upload, datastore look-up, endpoint or asset call (in preview, nor under mocks at all)");
    assert.deepStrictEqual(preview.calls, []);
    // Inputs that come from the plan are known in preview, so a changed file shows as a concrete diff.
    const modelIn = findAll(preview, ASSET).filter((r) => r.inputs.assetKind === "models").map((r) => r.inputs.properties.modelUri);
    assert.strictEqual(modelIn.length, 2);
    for (const uri of modelIn) assert.match(uri, /^azureml:\/\/subscriptions\/.+\/paths\/LocalUpload\/[0-9a-f]{64}\/heart-classifier/);
  });
});

describe("stack (mocks): serialized dynamic providers", function () {
  it("load and diff in a plain Node process (no ts-node), as Pulumi's dynamic provider host runs them", async () => {
    const { spawnSync } = require("child_process") as typeof import("child_process");
    const fs = require("fs") as typeof import("fs");
    const os = require("os") as typeof import("os");
    const run = await runProgram(stackProgram(rawConfig()));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "providers-"));
    try {
      const upload = findAll(run, UPLOAD)[0].inputs;
      const pointer = find(run, POINTER).inputs;
      const assets = findAll(run, ASSET).map((r) => r.inputs);
      assert.strictEqual(new Set(assets.map((a) => a.__provider)).size, 1, "one provider text for every asset version");
      const asset = assets.find((a) => a.assetKind === "models")!;
      fs.writeFileSync(path.join(dir, "upload.js"), upload.__provider);
      fs.writeFileSync(path.join(dir, "pointer.js"), pointer.__provider);
      fs.writeFileSync(path.join(dir, "asset.js"), asset.__provider);
      const script = `
        const up = require(${JSON.stringify(path.join(dir, "upload.js"))}).handler();
        const pt = require(${JSON.stringify(path.join(dir, "pointer.js"))}).handler();
        const as = require(${JSON.stringify(path.join(dir, "asset.js"))}).handler();
        const a = ${JSON.stringify({ ...asset, __provider: undefined })};
        const u = ${JSON.stringify({ ...upload, __provider: undefined })};
        const p = ${JSON.stringify({ ...pointer, __provider: undefined })};
        Promise.all([
          up.diff("id", u, { ...u, hash: "0".repeat(64) }),
          pt.diff("id", p, { ...p, deploymentName: "green" }),
          as.diff("id", a, { ...a, version: "7" }),
          as.diff("id", a, { ...a, retainOnDestroy: false }),
          as.diff("id", a, a),
        ]).then((r) => console.log(JSON.stringify({ methods: [Object.keys(up), Object.keys(pt), Object.keys(as)], diffs: r })));`;
      const child = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "", NODE_PATH: path.join(PROJECT_ROOT, "node_modules") } });
      assert.strictEqual(child.status, 0, child.stderr);
      assert.deepStrictEqual(JSON.parse(child.stdout), {
        methods: [["check", "diff", "create", "read", "delete"], ["check", "diff", "create", "update", "read", "delete"], ["check", "diff", "create", "update", "read", "delete"]],
        diffs: [
          { changes: true, replaces: ["hash"], deleteBeforeReplace: false },
          { changes: true, replaces: [], deleteBeforeReplace: false },
          { changes: true, replaces: ["version"], deleteBeforeReplace: false },
          { changes: true, replaces: [], deleteBeforeReplace: false },
          { changes: false, replaces: [], deleteBeforeReplace: false },
        ],
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
