/**
 * Roll-outs under mocks, as before/after graphs: a new model rolls out as new versions plus an updated
 * deployment with the default untouched; a second deployment stages a candidate beside the current one; the
 * default switches by config; the old deployment is removed.
 */
import assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { copyProject, diffGraphs, find, findAll, inputsByResource, key, ProgramRun, rawConfig, runProgram, stackProgram } from "./support/pulumiMocks";

const ML = "azure-native:machinelearningservices";
const POINTER = "pulumi-nodejs:dynamic/heartscoring:DefaultDeployment";
const ASSET = "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion";

const deployments = (list: unknown) => rawConfig({ deployments: JSON.stringify(list) });

describe("stack (mocks): roll-outs", function () {
  let root: string;
  before(() => {
    root = copyProject();
    // A candidate model beside the current one.
    const candidate = path.join(root, "models", "candidate", "heart-classifier");
    fs.cpSync(path.join(root, "models", "heart-classifier"), candidate, { recursive: true });
    fs.appendFileSync(path.join(candidate, "MLmodel"), "\n# candidate\n");
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("a changed model registers new versions and updates the deployment; the default pointer does not move", async () => {
    const before = await runProgram(stackProgram(rawConfig(), root));
    const changed = copyProject();
    try {
      fs.appendFileSync(path.join(changed, "models", "heart-classifier", "MLmodel"), "\n# retrained\n");
      const after = await runProgram(stackProgram(rawConfig(), changed));
      const d = diffGraphs(before, after);
      assert.deepStrictEqual(d.changed, [`${ML}:BatchDeployment::uci-classifier-prepros-xgb`]);
      assert.ok(!d.changed.includes(key(POINTER, "default-deployment")) && !d.added.includes(key(POINTER, "default-deployment")));
      assert.ok(!d.changed.some((k) => k.includes(":BatchEndpoint::")), "the endpoint is not touched");
      const newPipeline = find(after, `${ML}:BatchDeployment`).inputs.properties.deploymentConfiguration.componentId.assetId;
      assert.strictEqual(newPipeline, after.outputs.pipelineComponentId);
      assert.notStrictEqual(newPipeline, before.outputs.pipelineComponentId);
      // The deployment is updated in place to the new pipeline version; create-before-delete keeps the old
      // versions until the deployment has moved, and retainOnDestroy keeps them in the workspace after.
      assert.ok(d.added.some((k) => k.startsWith(`${ASSET}::heart-classifier-`)));
      const addedAssets = after.resources.filter((r) => d.added.includes(key(r.type, r.name)) && r.type === ASSET);
      assert.deepStrictEqual(addedAssets.map((r) => r.inputs.assetKind).sort(), ["components", "models"]);
      for (const r of addedAssets) assert.strictEqual(r.inputs.retainOnDestroy, true);
    } finally {
      fs.rmSync(changed, { recursive: true, force: true });
    }
  });

  it("rolls a model back (A → B → A) to exactly the first A's versions, which Azure still holds and the stack adopts", async () => {
    const project = copyProject();
    try {
      const mlmodel = path.join(project, "models", "heart-classifier", "MLmodel");
      const original = fs.readFileSync(mlmodel);
      const a1 = await runProgram(stackProgram(rawConfig(), project));
      fs.appendFileSync(mlmodel, "\n# retrained: worse\n");
      const b = await runProgram(stackProgram(rawConfig(), project));
      fs.writeFileSync(mlmodel, original);
      const a2 = await runProgram(stackProgram(rawConfig(), project));
      assert.deepStrictEqual(diffGraphs(a1, a2), { added: [], removed: [], changed: [] }, "A again declares the first A byte for byte");
      assert.deepStrictEqual(a2.outputs, a1.outputs);
      // Going back from B re-declares A's versions under A's names and versions: on Azure (versions retained)
      // they exist, and WorkspaceAssetVersion adopts them instead of failing as azure-native's create would.
      const back = diffGraphs(b, a2);
      const assetKeys = (run: ProgramRun, keys: string[]) => run.resources.filter((r) => r.type === ASSET && keys.includes(key(r.type, r.name)));
      const readded = assetKeys(a2, back.added);
      assert.deepStrictEqual(readded.map((r) => `${r.inputs.assetKind}/${r.inputs.name}`).sort(), ["components/uci_heart_classifier_scorer", "models/heart-classifier"]);
      const first = inputsByResource(a1);
      for (const r of readded) assert.strictEqual(JSON.stringify(r.inputs), first.get(key(r.type, r.name)), `${r.name}: same inputs as the first A`);
      assert.deepStrictEqual(back.changed, [`${ML}:BatchDeployment::uci-classifier-prepros-xgb`], "the deployment moves back; nothing else changes");
    } finally {
      fs.rmSync(project, { recursive: true, force: true });
    }
  });

  it("stages a second deployment beside the default, sharing what is the same", async () => {
    const run = await runProgram(
      stackProgram(deployments([{ name: "blue", default: true }, { name: "green", models: { "heart-classifier": "models/candidate/heart-classifier" } }]), root),
    );
    const byName = Object.fromEntries(findAll(run, `${ML}:BatchDeployment`).map((r) => [r.inputs.deploymentName, r.inputs]));
    assert.deepStrictEqual(Object.keys(byName).sort(), ["blue", "green"]);
    const blueId = byName.blue.properties.deploymentConfiguration.componentId.assetId;
    const greenId = byName.green.properties.deploymentConfiguration.componentId.assetId;
    assert.notStrictEqual(blueId, greenId);
    const count = (kind: string, name: string) => findAll(run, ASSET).filter((r) => r.inputs.assetKind === kind && r.inputs.name === name).length;
    assert.strictEqual(count("models", "heart-classifier"), 2);
    assert.strictEqual(count("models", "heart-classifier-transforms"), 1, "shared");
    assert.strictEqual(count("components", "prepare"), 1, "shared");
    assert.strictEqual(count("components", "uci_heart_classifier_scorer"), 2);
    const pointer = find(run, POINTER);
    assert.strictEqual(pointer.inputs.deploymentName, "blue");
    assert.ok(pointer.dependsOn.includes(`${ML}:BatchDeployment::blue`));
    assert.strictEqual(run.outputs.defaultDeploymentName, "blue");
    assert.deepStrictEqual(run.outputs.deploymentNames, ["blue", "green"]);
    assert.strictEqual(run.outputs.pipelineComponentId, blueId);
    assert.deepStrictEqual(run.outputs.deployments.map((d: any) => [d.name, d.isDefault, d.pipelineComponentId]), [["blue", true, blueId], ["green", false, greenId]]);
  });

  it("switches the default by config: only the pointer changes", async () => {
    const staged = await runProgram(
      stackProgram(deployments([{ name: "blue", default: true }, { name: "green", models: { "heart-classifier": "models/candidate/heart-classifier" } }]), root),
    );
    const switched = await runProgram(
      stackProgram(deployments([{ name: "blue" }, { name: "green", default: true, models: { "heart-classifier": "models/candidate/heart-classifier" } }]), root),
    );
    const d = diffGraphs(staged, switched);
    assert.deepStrictEqual(d, { added: [], removed: [], changed: [key(POINTER, "default-deployment")] });
    const pointer = find(switched, POINTER);
    assert.strictEqual(pointer.inputs.deploymentName, "green");
    assert.ok(pointer.dependsOn.includes(`${ML}:BatchDeployment::green`));
    assert.strictEqual(switched.outputs.defaultDeploymentName, "green");
    assert.strictEqual(switched.outputs.versions.models["heart-classifier"], switched.outputs.deployments[0].models["heart-classifier"]);
  });

  it("removes the old deployment and what only it used, leaving the pointer alone", async () => {
    const switched = await runProgram(
      stackProgram(deployments([{ name: "blue" }, { name: "green", default: true, models: { "heart-classifier": "models/candidate/heart-classifier" } }]), root),
    );
    const removed = await runProgram(stackProgram(deployments([{ name: "green", default: true, models: { "heart-classifier": "models/candidate/heart-classifier" } }]), root));
    const d = diffGraphs(switched, removed);
    assert.deepStrictEqual(d.added, []);
    assert.deepStrictEqual(d.changed, []);
    const kinds = d.removed.map((k) => k.replace(/-[0-9a-f]{8,16}$|-[0-9]{1,9}$/, "-*")).sort();
    assert.deepStrictEqual(kinds, [
      `${ML}:BatchDeployment::blue`,
      "heartscoring:infra:PipelineComponent::uci_heart_classifier_scorer-*",
      "heartscoring:infra:PipelineDeployment::blue",
      "heartscoring:infra:RegisteredModel::heart-classifier-*",
      "pulumi-nodejs:dynamic/heartscoring:FolderUpload::heart-classifier-*",
      `${ASSET}::heart-classifier-*`,
      `${ASSET}::uci_heart_classifier_scorer-*`,
    ]);
    assert.deepStrictEqual(removed.outputs.deploymentNames, ["green"]);
  });
});
