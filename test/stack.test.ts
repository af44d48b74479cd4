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
import { commandComponentSpec, pipelineComponentSpec } from "../lib/componentSpec";
import { callCount } from "../lib/callStats";

const ML = "azure-native:machinelearningservices";
const UPLOAD = "pulumi-nodejs:dynamic/heartscoring:FolderUpload";
const POINTER = "pulumi-nodejs:dynamic/heartscoring:DefaultDeployment";
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
      return [name, commandComponentSpec(s.component, { codeId, environmentIds: { [env.name]: envId } })];
    }),
  );
  const pipelineSpec = pipelineComponentSpec(pipeline, {
    componentIds: Object.fromEntries(Object.entries(components).map(([n, c]) => [n, assetVersionId(ws, "components", n, c.version)])),
    modelIds: Object.fromEntries(Object.entries(modelVersions).map(([n, v]) => [n, assetVersionId(ws, "models", n, v)])),
  });
  return { models, modelVersions, code, env, envVersion, envId, components, pipelineSpec };
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
      `${ML}:EnvironmentVersion::uci-heart-scoring-${exp.envVersion}`,
      ...["prepare", "score"].flatMap((c) => [
        `heartscoring:infra:CommandComponent::${c}`,
        `${UPLOAD}::${c}-code-${exp.code[c as "prepare"].slice(0, 12)}`,
        `${ML}:CodeVersion::${c}-code-${assetVersion(exp.code[c as "prepare"])}`,
        `${ML}:ComponentVersion::${c}-${exp.components[c].version}`,
      ]),
      ...Object.entries(exp.models).flatMap(([n, m]) => [
        `heartscoring:infra:RegisteredModel::${n}-${mv[n]}`,
        `${UPLOAD}::${n}-${m.hash.slice(0, 12)}`,
        `${ML}:ModelVersion::${n}-${mv[n]}`,
      ]),
      `heartscoring:infra:PipelineComponent::uci_heart_classifier_scorer-${exp.pipelineSpec.version}`,
      `${ML}:ComponentVersion::uci_heart_classifier_scorer-${exp.pipelineSpec.version}`,
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
        assert.match(r.parent, /^heartscoring:infra:(BatchCluster|ScoringEnvironment|CommandComponent|RegisteredModel|PipelineComponent|ScoringEndpoint|PipelineDeployment)::/, key(r.type, r.name));
      }
    }
    assert.strictEqual(parentOf[`${ML}:Compute::batch-cluster`], "heartscoring:infra:BatchCluster::batch-cluster");
    assert.strictEqual(parentOf[`${POINTER}::default-deployment`], "heartscoring:infra:ScoringEndpoint::endpoint");
    assert.strictEqual(parentOf[`${ML}:BatchDeployment::uci-classifier-prepros-xgb`], "heartscoring:infra:PipelineDeployment::uci-classifier-prepros-xgb");
    const mv = exp.modelVersions["heart-classifier"];
    assert.strictEqual(parentOf[`${ML}:ModelVersion::heart-classifier-${mv}`], `heartscoring:infra:RegisteredModel::heart-classifier-${mv}`);
    assert.strictEqual(parentOf[`${UPLOAD}::heart-classifier-${exp.models["heart-classifier"].hash.slice(0, 12)}`], `heartscoring:infra:RegisteredModel::heart-classifier-${mv}`);
    assert.strictEqual(parentOf[`${ML}:CodeVersion::prepare-code-${assetVersion(exp.code.prepare)}`], "heartscoring:infra:CommandComponent::prepare");
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
      assert.deepStrictEqual(find(run, `${ML}:ModelVersion`, `${name}-${v}`).inputs, {
        name,
        version: v,
        resourceGroupName: ws.resourceGroupName,
        workspaceName: ws.workspaceName,
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
      assert.deepStrictEqual(find(run, `${ML}:CodeVersion`, `${c}-code-${assetVersion(h)}`).inputs, {
        name: `${c}-code`,
        version: assetVersion(h),
        resourceGroupName: ws.resourceGroupName,
        workspaceName: ws.workspaceName,
        properties: { codeUri: `https://${MOCK_ACCOUNT}.blob.core.windows.net/${MOCK_CONTAINER}/LocalUpload/${h}/src`, isAnonymous: false, isArchived: false },
      });
    }
  });

  it("registers the environment from components/environment", () => {
    const e = find(run, `${ML}:EnvironmentVersion`).inputs;
    assert.strictEqual(e.name, "uci-heart-scoring");
    assert.strictEqual(e.version, exp.envVersion);
    assert.strictEqual(e.properties.image, exp.env.image);
    assert.strictEqual(e.properties.condaFile, exp.env.condaText);
    assert.strictEqual(e.properties.osType, "Linux");
  });

  it("registers the command components with code and environment pinned to the registered versions", () => {
    for (const c of ["prepare", "score"] as const) {
      const spec = exp.components[c];
      const r = find(run, `${ML}:ComponentVersion`, `${c}-${spec.version}`).inputs;
      assert.strictEqual(r.name, c);
      assert.strictEqual(r.version, spec.version);
      assert.deepStrictEqual(r.properties.componentSpec, spec.spec);
      assert.strictEqual(r.properties.componentSpec.code, `azureml:${wsId}/codes/${c}-code/versions/${assetVersion(exp.code[c])}`);
      assert.strictEqual(r.properties.componentSpec.environment, `azureml:${wsId}/environments/uci-heart-scoring/versions/${exp.envVersion}`);
      assert.strictEqual(r.properties.componentSpec.version, spec.version);
    }
  });

  it("registers the pipeline component with its steps pinned to the registered components and models", () => {
    const p = exp.pipelineSpec;
    const r = find(run, `${ML}:ComponentVersion`, `uci_heart_classifier_scorer-${p.version}`).inputs;
    assert.strictEqual(r.name, "uci_heart_classifier_scorer");
    assert.strictEqual(r.version, p.version);
    assert.deepStrictEqual(r.properties.componentSpec, p.spec);
    const jobs = r.properties.componentSpec.jobs;
    assert.strictEqual(jobs.prepare.componentId, `${wsId}/components/prepare/versions/${exp.components.prepare.version}`);
    assert.strictEqual(jobs.score.componentId, `${wsId}/components/score/versions/${exp.components.score.version}`);
    assert.deepStrictEqual(jobs.prepare.inputs.transformations, {
      job_input_type: "custom_model",
      uri: `azureml:${wsId}/models/heart-classifier-transforms/versions/${exp.modelVersions["heart-classifier-transforms"]}`,
    });
    assert.deepStrictEqual(jobs.score.inputs.model, { job_input_type: "mlflow_model", uri: `azureml:${wsId}/models/heart-classifier/versions/${exp.modelVersions["heart-classifier"]}` });
    assert.deepStrictEqual(jobs.score.inputs.data, { job_input_type: "literal", value: "${{parent.jobs.prepare.outputs.prepared_data}}" });
    assert.deepStrictEqual(jobs.prepare.inputs.data, { job_input_type: "literal", value: "${{parent.inputs.input_data}}" });
    assert.deepStrictEqual(jobs.score.outputs.scores, { type: "literal", value: "${{parent.outputs.scores}}" });
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

  it("keeps asset versions on destroy (retainOnDelete), and nothing else", () => {
    const assets = ["ModelVersion", "CodeVersion", "EnvironmentVersion", "ComponentVersion"].map((t) => `${ML}:${t}`);
    for (const r of run.resources) {
      assert.strictEqual(r.retainOnDelete, assets.includes(r.type), key(r.type, r.name));
    }
  });

  it("orders creation and destroy through explicit dependencies", () => {
    const deps = (type: string) => find(run, type).dependsOn;
    const pv = exp.pipelineSpec.version;
    const mv = exp.modelVersions;
    // The pointer depends on the deployment: destroy releases it before deleting the deployment.
    assert.deepStrictEqual(deps(POINTER), [`${ML}:BatchDeployment::uci-classifier-prepros-xgb`, `${ML}:BatchEndpoint::${endpointName("heart-scoring", "test", "westeurope", ws)}`]);
    assert.deepStrictEqual(deps(`${ML}:BatchDeployment`), [
      `${ML}:BatchEndpoint::${endpointName("heart-scoring", "test", "westeurope", ws)}`,
      `${ML}:ComponentVersion::uci_heart_classifier_scorer-${pv}`,
      `${ML}:Compute::batch-cluster`,
    ]);
    assert.deepStrictEqual(find(run, `${ML}:ComponentVersion`, `uci_heart_classifier_scorer-${pv}`).dependsOn, [
      `${ML}:ComponentVersion::prepare-${exp.components.prepare.version}`,
      `${ML}:ComponentVersion::score-${exp.components.score.version}`,
      `${ML}:ModelVersion::heart-classifier-${mv["heart-classifier"]}`,
      `${ML}:ModelVersion::heart-classifier-transforms-${mv["heart-classifier-transforms"]}`,
    ]);
    assert.deepStrictEqual(find(run, `${ML}:ModelVersion`, `heart-classifier-${mv["heart-classifier"]}`).dependsOn, [
      `${UPLOAD}::heart-classifier-${exp.models["heart-classifier"].hash.slice(0, 12)}`,
    ]);
    assert.deepStrictEqual(find(run, `${ML}:ComponentVersion`, `prepare-${exp.components.prepare.version}`).dependsOn, [
      `${ML}:CodeVersion::prepare-code-${assetVersion(exp.code.prepare)}`,
      `${ML}:EnvironmentVersion::uci-heart-scoring-${exp.envVersion}`,
    ]);
  });

  it("lets the pointer own the endpoint's default: the endpoint ignores changes to it", () => {
    assert.deepStrictEqual(find(run, `${ML}:BatchEndpoint`).ignoreChanges, ["properties.defaults"]);
  });

  it("builds data store URIs the way the SDK writes them", () => {
    assert.strictEqual(datastoreUri(ws, "ds", "a/b"), `azureml://subscriptions/${ws.subscriptionId}/resourcegroups/${ws.resourceGroupName}/workspaces/${ws.workspaceName}/datastores/ds/paths/a/b`);
  });
});

describe("stack (mocks): preview", function () {
  it("declares the same graph in preview without uploading or calling Azure", async () => {
    const kinds = ["blob-upload", "arm-datastore", "arm-endpoint"];
    const before = kinds.map(callCount);
    const preview = await runProgram(stackProgram(rawConfig()), { dryRun: true });
    const up = await runProgram(stackProgram(rawConfig()));
    assert.deepStrictEqual(preview.resources.map((r) => key(r.type, r.name)).sort(), up.resources.map((r) => key(r.type, r.name)).sort());
    assert.deepStrictEqual(kinds.map(callCount), before, "no upload, datastore look-up or endpoint call (in preview, nor under mocks at all)");
    assert.deepStrictEqual(preview.calls, []);
    // Inputs that come from the plan are known in preview, so a changed file shows as a concrete diff.
    const modelIn = findAll(preview, `${ML}:ModelVersion`).map((r) => r.inputs.properties.modelUri);
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
      fs.writeFileSync(path.join(dir, "upload.js"), upload.__provider);
      fs.writeFileSync(path.join(dir, "pointer.js"), pointer.__provider);
      const script = `
        const up = require(${JSON.stringify(path.join(dir, "upload.js"))}).handler();
        const pt = require(${JSON.stringify(path.join(dir, "pointer.js"))}).handler();
        const u = ${JSON.stringify({ ...upload, __provider: undefined })};
        const p = ${JSON.stringify({ ...pointer, __provider: undefined })};
        Promise.all([up.diff("id", u, { ...u, hash: "0".repeat(64) }), pt.diff("id", p, { ...p, deploymentName: "green" })])
          .then((r) => console.log(JSON.stringify({ methods: [Object.keys(up), Object.keys(pt)], diffs: r })));`;
      const child = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "", NODE_PATH: path.join(PROJECT_ROOT, "node_modules") } });
      assert.strictEqual(child.status, 0, child.stderr);
      assert.deepStrictEqual(JSON.parse(child.stdout), {
        methods: [["diff", "create", "delete"], ["diff", "create", "update", "delete"]],
        diffs: [
          { changes: true, replaces: ["hash"], deleteBeforeReplace: false },
          { changes: true, replaces: [], deleteBeforeReplace: false },
        ],
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
