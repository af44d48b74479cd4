/**
 * Versions follow content: the same checkout gives byte-identical resource inputs, and a changed file changes
 * exactly the resources that depend on it. Runs the stack under mocks on throw-away copies of components/ and
 * models/, so the checkout is never touched.
 */
import assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { copyProject, diffGraphs, inputsByResource, key, PROJECT_ROOT, ProgramRun, rawConfig, runProgram, stackProgram } from "./support/pulumiMocks";


/** Resource keys with the content suffix (`-<hex or digits>`) removed: which logical things changed. */
function kinds(keys: string[]): string[] {
  return [...new Set(keys.map((k) => k.replace(/-[0-9a-f]{8,16}$|-[0-9]{1,9}$/, "-*")))].sort();
}

const ML = "azure-native:machinelearningservices";
const UPLOAD = "pulumi-nodejs:dynamic/heartscoring:FolderUpload";
const ASSET = "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion";

describe("stack (mocks): determinism", function () {
  let root: string;
  let baseline: ProgramRun;
  before(async () => {
    root = copyProject();
    baseline = await runProgram(stackProgram(rawConfig(), root));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("gives byte-identical inputs on a second run of the same checkout", async () => {
    const again = await runProgram(stackProgram(rawConfig(), root));
    const a = inputsByResource(baseline);
    const b = inputsByResource(again);
    assert.deepStrictEqual([...b.keys()].sort(), [...a.keys()].sort());
    const differing = [...a.keys()].filter((k) => a.get(k) !== b.get(k));
    assert.deepStrictEqual(differing, []);
    assert.deepStrictEqual(again.outputs, baseline.outputs);
  });

  it("gives the same inputs wherever the checkout lies (no machine paths)", async () => {
    const elsewhere = copyProject();
    try {
      const run = await runProgram(stackProgram(rawConfig(), elsewhere));
      assert.deepStrictEqual(diffGraphs(baseline, run), { added: [], removed: [], changed: [] });
      for (const [k, text] of inputsByResource(run)) {
        for (const p of [elsewhere, root, PROJECT_ROOT, os.tmpdir(), os.homedir()]) assert.ok(!text.includes(p), `${k} holds the machine path ${p}`);
      }
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("a changed parallel setting (instanceCount) changes only the pipeline component and the deployment", async () => {
    const run = await runProgram(stackProgram(rawConfig({ instanceCount: "3" }), root));
    const d = diffGraphs(baseline, run);
    const expectedKinds = [`${ASSET}::uci_heart_classifier_scorer-*`, "heartscoring:infra:PipelineComponent::uci_heart_classifier_scorer-*"].sort();
    assert.deepStrictEqual(kinds(d.added), expectedKinds);
    assert.deepStrictEqual(kinds(d.removed), expectedKinds);
    assert.deepStrictEqual(d.changed, [`${ML}:BatchDeployment::uci-classifier-prepros-xgb`]);
    assert.deepStrictEqual(run.outputs.versions.code, baseline.outputs.versions.code);
    assert.strictEqual(run.outputs.versions.components.prepare, baseline.outputs.versions.components.prepare, "the step components stay");
  });

  it("a changed model file changes only that model, the pipeline component and the deployment", async () => {
    const changed = copyProject();
    try {
      fs.appendFileSync(path.join(changed, "models", "heart-classifier", "MLmodel"), "\n# retrained\n");
      const run = await runProgram(stackProgram(rawConfig(), changed));
      const d = diffGraphs(baseline, run);
      const expectedKinds = [
        `${ASSET}::uci_heart_classifier_scorer-*`,
        `${ASSET}::heart-classifier-*`,
        `${UPLOAD}::heart-classifier-*`,
        "heartscoring:infra:PipelineComponent::uci_heart_classifier_scorer-*",
        "heartscoring:infra:RegisteredModel::heart-classifier-*",
      ].sort();
      assert.deepStrictEqual(kinds(d.added), expectedKinds, "new versions registered");
      assert.deepStrictEqual(kinds(d.removed), expectedKinds, "old versions leave the stack");
      assert.deepStrictEqual(d.changed, [`${ML}:BatchDeployment::uci-classifier-prepros-xgb`], "only the deployment is updated in place");
      assert.notDeepStrictEqual(run.outputs.versions.models["heart-classifier"], baseline.outputs.versions.models["heart-classifier"]);
      assert.strictEqual(run.outputs.versions.models["heart-classifier-transforms"], baseline.outputs.versions.models["heart-classifier-transforms"]);
      assert.deepStrictEqual(run.outputs.versions.code, baseline.outputs.versions.code);
      assert.strictEqual(run.outputs.defaultDeploymentName, baseline.outputs.defaultDeploymentName);
    } finally {
      fs.rmSync(changed, { recursive: true, force: true });
    }
  });

  it("a changed prepare script changes prepare's code and component, the pipeline component and the deployment, not the models", async () => {
    const changed = copyProject();
    try {
      fs.appendFileSync(path.join(changed, "components", "prepare", "src", "prepare.py"), "\n# a comment\n");
      const run = await runProgram(stackProgram(rawConfig(), changed));
      const d = diffGraphs(baseline, run);
      const expectedKinds = [
        `${ASSET}::prepare-code-*`,
        `${ASSET}::prepare-*`,
        `${ASSET}::uci_heart_classifier_scorer-*`,
        `${UPLOAD}::prepare-code-*`,
        "heartscoring:infra:PipelineComponent::uci_heart_classifier_scorer-*",
      ].sort();
      assert.deepStrictEqual(kinds(d.added), expectedKinds);
      assert.deepStrictEqual(kinds(d.removed), expectedKinds);
      assert.deepStrictEqual(d.changed, [`${ML}:BatchDeployment::uci-classifier-prepros-xgb`]);
      assert.ok(!d.added.some((k) => k.includes("::heart-classifier") || k.includes("score-")), "models and score untouched");
      assert.deepStrictEqual(run.outputs.versions.models, baseline.outputs.versions.models);
    } finally {
      fs.rmSync(changed, { recursive: true, force: true });
    }
  });

  it("ignores byte-code caches in the code folders", async () => {
    const changed = copyProject();
    try {
      fs.mkdirSync(path.join(changed, "components", "score", "src", "__pycache__"), { recursive: true });
      fs.writeFileSync(path.join(changed, "components", "score", "src", "__pycache__", "score.cpython-311.pyc"), "bytes");
      const run = await runProgram(stackProgram(rawConfig(), changed));
      assert.deepStrictEqual(diffGraphs(baseline, run), { added: [], removed: [], changed: [] });
    } finally {
      fs.rmSync(changed, { recursive: true, force: true });
    }
  });

  it("a different stack gets its own endpoint name and nothing else differs but the names derived from it", async () => {
    const run = await runProgram(stackProgram(rawConfig(), root, "pr-42"));
    assert.notStrictEqual(run.outputs.endpointName, baseline.outputs.endpointName);
    assert.match(run.outputs.endpointName, /^heart-scoring-pr-42-[0-9a-f]{6}$/);
    const d = diffGraphs(baseline, run);
    assert.deepStrictEqual(kinds(d.added).map((k) => k.split("::")[0]), [`${ML}:BatchEndpoint`]);
    assert.deepStrictEqual(d.changed.map((k) => key(k.split("::")[0], "")).sort(), [`${ML}:BatchDeployment::`, "pulumi-nodejs:dynamic/heartscoring:DefaultDeployment::"]);
  });
});
