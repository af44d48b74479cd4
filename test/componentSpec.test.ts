/** YAML → componentSpec JSON: pure functions, checked on the real component YAML and on edge cases. */
import assert from "assert";
import { loadPipeline, CommandComponent, PipelineDefinition } from "../lib/componentYaml";
import { commandComponentSpec, ComponentSpecError, pipelineComponentSpec, versioned } from "../lib/componentSpec";
import { assetVersion, canonicalJson, modelVersion, sha256Hex } from "../lib/naming";

const ENV_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/environments/uci-heart-scoring/versions/e1";
const CODE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/codes/prepare-code/versions/c1";
const ids = {
  componentIds: { prepare: "/x/components/prepare/versions/p1", score: "/x/components/score/versions/s1" },
  modelIds: { "heart-classifier": "/x/models/heart-classifier/versions/7", "heart-classifier-transforms": "/x/models/heart-classifier-transforms/versions/9" },
};

describe("componentSpec", function () {
  let pipeline: PipelineDefinition;
  let prepare: CommandComponent;
  before(() => {
    pipeline = loadPipeline();
    prepare = pipeline.steps.find((s) => s.name === "prepare")!.component as CommandComponent;
  });

  it("turns a command component's YAML into its spec with code and environment pinned", () => {
    const { version, spec } = commandComponentSpec(prepare, { codeId: CODE_ID, environmentIds: { "uci-heart-scoring": ENV_ID } });
    const y = prepare.spec;
    assert.deepStrictEqual(spec, {
      $schema: y.$schema,
      name: "prepare",
      display_name: y.display_name,
      description: y.description,
      type: "command",
      inputs: JSON.parse(JSON.stringify(y.inputs)),
      outputs: JSON.parse(JSON.stringify(y.outputs)),
      code: `azureml:${CODE_ID}`,
      environment: `azureml:${ENV_ID}`,
      command: y.command,
      version,
    });
    assert.match(version, /^[0-9a-f]{16}$/);
  });

  it("derives the version from everything but the version, so equal specs get equal versions", () => {
    const a = commandComponentSpec(prepare, { codeId: CODE_ID, environmentIds: { "uci-heart-scoring": ENV_ID } });
    const b = commandComponentSpec(prepare, { codeId: CODE_ID, environmentIds: { "uci-heart-scoring": ENV_ID } });
    assert.deepStrictEqual(a, b);
    const { version: _v, ...rest } = a.spec;
    assert.strictEqual(a.version, assetVersion(sha256Hex(canonicalJson(rest))));
    assert.strictEqual(versioned({ ...a.spec, version: "something-else" }).version, a.version, "an existing version field does not count");
    const c = commandComponentSpec(prepare, { codeId: CODE_ID.replace("c1", "c2"), environmentIds: { "uci-heart-scoring": ENV_ID } });
    assert.notStrictEqual(c.version, a.version, "new code, new version");
    assert.strictEqual(canonicalJson({ b: 1, a: { d: 1, c: 2 } }), canonicalJson({ a: { c: 2, d: 1 }, b: 1 }));
  });

  it("refuses an environment the stack does not register", () => {
    assert.throws(() => commandComponentSpec(prepare, { codeId: CODE_ID, environmentIds: { other: ENV_ID } }), (e: Error) => {
      assert.ok(e instanceof ComponentSpecError);
      assert.match(e.message, /environment azureml:uci-heart-scoring@latest is not one the stack registers \(expected .* one of: other\)/);
      return true;
    });
  });

  it("turns the pipeline YAML into the service's jobs shape, every reference pinned", () => {
    const { version, spec } = pipelineComponentSpec(pipeline, ids);
    assert.strictEqual(spec.type, "pipeline");
    assert.strictEqual(spec.name, "uci_heart_classifier_scorer");
    assert.strictEqual(spec.version, version);
    assert.deepStrictEqual(spec.inputs, { input_data: { type: "uri_folder" }, score_mode: { type: "string", default: "append" } });
    assert.deepStrictEqual(spec.outputs, { scores: { type: "uri_folder", mode: "upload" } });
    assert.deepStrictEqual(spec.jobs, {
      prepare: {
        name: "prepare",
        type: "command",
        componentId: ids.componentIds.prepare,
        inputs: {
          data: { job_input_type: "literal", value: "${{parent.inputs.input_data}}" },
          transformations: { job_input_type: "custom_model", uri: ids.modelIds["heart-classifier-transforms"] },
        },
        outputs: {},
      },
      score: {
        name: "score",
        type: "command",
        componentId: ids.componentIds.score,
        inputs: {
          data: { job_input_type: "literal", value: "${{parent.jobs.prepare.outputs.prepared_data}}" },
          model: { job_input_type: "mlflow_model", uri: ids.modelIds["heart-classifier"] },
          score_mode: { job_input_type: "literal", value: "${{parent.inputs.score_mode}}" },
        },
        outputs: { scores: { type: "literal", value: "${{parent.outputs.scores}}" } },
      },
    });
    assert.ok(!JSON.stringify(spec).includes("@latest"), "no unpinned reference left");
  });

  it("changes the pipeline version when a model it binds changes, and only then", () => {
    const a = pipelineComponentSpec(pipeline, ids);
    assert.strictEqual(pipelineComponentSpec(pipeline, ids).version, a.version);
    const b = pipelineComponentSpec(pipeline, { ...ids, modelIds: { ...ids.modelIds, "heart-classifier": "/x/models/heart-classifier/versions/8" } });
    assert.notStrictEqual(b.version, a.version);
  });

  it("reports every reference it cannot pin", () => {
    assert.throws(() => pipelineComponentSpec(pipeline, { componentIds: {}, modelIds: {} }), (e: Error) => {
      assert.ok(e instanceof ComponentSpecError);
      assert.strictEqual(e.problems.length, 4, e.message);
      assert.match(e.message, /jobs\.prepare: component prepare has no registered version/);
      assert.match(e.message, /jobs\.score\.inputs\.model: model heart-classifier has no registered version/);
      return true;
    });
  });

  it("derives integer model versions and short asset versions from a content hash", () => {
    const h = sha256Hex("x");
    assert.match(modelVersion(h), /^[1-9][0-9]{0,8}$/);
    assert.strictEqual(modelVersion("0000000" + h.slice(7)), "1");
    assert.strictEqual(modelVersion("fffffff" + h.slice(7)), String(0xfffffff + 1));
    assert.strictEqual(assetVersion(h), h.slice(0, 16));
  });
});
