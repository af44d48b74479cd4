/** YAML → componentSpec JSON: pure functions, checked on the real component YAML and on edge cases. */
import assert from "assert";
import { ComponentYamlError, ParallelComponent, effectiveParallelSettings, loadCommandComponent, loadComponent, loadPipeline, PipelineDefinition } from "../lib/componentYaml";
import { componentSpec, commandComponentSpec, ComponentSpecError, pipelineComponentSpec, versioned } from "../lib/componentSpec";
import { assetVersion, canonicalJson, modelVersion, sha256Hex } from "../lib/naming";

const ENV_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/environments/uci-heart-scoring/versions/e1";
const CODE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w/codes/prepare-code/versions/c1";
const ids = {
  componentIds: { prepare: "/x/components/prepare/versions/p1", score: "/x/components/score/versions/s1" },
  modelIds: { "heart-classifier": "/x/models/heart-classifier/versions/7", "heart-classifier-transforms": "/x/models/heart-classifier-transforms/versions/9" },
};

/** The run settings every parallel node carries when the stack sets nothing: the component YAML's. */
const NODE_SETTINGS = {
  resources: { instance_count: 1 },
  max_concurrency_per_instance: 1,
  mini_batch_size: 1,
  mini_batch_error_threshold: 0,
  retry_settings: { max_retries: 2, timeout: 600 },
  logging_level: "INFO",
};

describe("componentSpec", function () {
  let pipeline: PipelineDefinition;
  let prepare: ParallelComponent;
  before(() => {
    pipeline = loadPipeline();
    prepare = pipeline.steps.find((s) => s.name === "prepare")!.component as ParallelComponent;
  });

  it("turns a parallel component's YAML into its spec: the task's code and environment pinned, run settings as the schema dumps them", () => {
    assert.strictEqual(prepare.kind, "parallel");
    const { version, spec } = componentSpec(prepare, { codeId: CODE_ID, environmentIds: { "uci-heart-scoring": ENV_ID } });
    const y = prepare.spec;
    assert.deepStrictEqual(spec, {
      $schema: "https://azuremlschemas.azureedge.net/latest/parallelComponent.schema.json",
      name: "prepare",
      display_name: y.display_name,
      description: y.description,
      type: "parallel",
      inputs: JSON.parse(JSON.stringify(y.inputs)),
      outputs: JSON.parse(JSON.stringify(y.outputs)),
      input_data: "${{inputs.data}}",
      mini_batch_size: "1",
      resources: { instance_count: 1 },
      max_concurrency_per_instance: 1,
      mini_batch_error_threshold: 0,
      retry_settings: { max_retries: 2, timeout: 600 },
      logging_level: "INFO",
      task: {
        type: "run_function",
        code: `azureml:${CODE_ID}`,
        entry_script: "prepare.py",
        environment: `azureml:${ENV_ID}`,
        program_arguments: "--data ${{inputs.data}} --transformations ${{inputs.transformations}} --prepared_data ${{outputs.prepared_data}}",
      },
      version,
    });
    assert.match(version, /^[0-9a-f]{16}$/);
  });

  it("derives the version from everything but the version, so equal specs get equal versions", () => {
    const a = componentSpec(prepare, { codeId: CODE_ID, environmentIds: { "uci-heart-scoring": ENV_ID } });
    const b = componentSpec(prepare, { codeId: CODE_ID, environmentIds: { "uci-heart-scoring": ENV_ID } });
    assert.deepStrictEqual(a, b);
    const { version: _v, ...rest } = a.spec;
    assert.strictEqual(a.version, assetVersion(sha256Hex(canonicalJson(rest))));
    assert.strictEqual(versioned({ ...a.spec, version: "something-else" }).version, a.version, "an existing version field does not count");
    const c = componentSpec(prepare, { codeId: CODE_ID.replace("c1", "c2"), environmentIds: { "uci-heart-scoring": ENV_ID } });
    assert.notStrictEqual(c.version, a.version, "new code, new version");
    assert.strictEqual(canonicalJson({ b: 1, a: { d: 1, c: 2 } }), canonicalJson({ a: { c: 2, d: 1 }, b: 1 }));
  });

  it("refuses an environment the stack does not register", () => {
    assert.throws(() => componentSpec(prepare, { codeId: CODE_ID, environmentIds: { other: ENV_ID } }), (e: Error) => {
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
        type: "parallel",
        componentId: ids.componentIds.prepare,
        inputs: {
          data: { job_input_type: "literal", value: "${{parent.inputs.input_data}}" },
          transformations: { job_input_type: "custom_model", uri: ids.modelIds["heart-classifier-transforms"] },
        },
        outputs: {},
        ...NODE_SETTINGS,
      },
      score: {
        name: "score",
        type: "parallel",
        componentId: ids.componentIds.score,
        inputs: {
          data: { job_input_type: "literal", value: "${{parent.jobs.prepare.outputs.prepared_data}}" },
          model: { job_input_type: "mlflow_model", uri: ids.modelIds["heart-classifier"] },
          score_mode: { job_input_type: "literal", value: "${{parent.inputs.score_mode}}" },
        },
        outputs: { scores: { type: "literal", value: "${{parent.outputs.scores}}" } },
        ...NODE_SETTINGS,
      },
    });
    assert.ok(!JSON.stringify(spec).includes("@latest"), "no unpinned reference left");
  });

  it("puts the stack's run settings on the parallel nodes, over the component's, field by field", () => {
    const { spec } = pipelineComponentSpec(pipeline, { ...ids, parallel: { resources: { instance_count: 3 }, retry_settings: { timeout: 90 }, mini_batch_size: "4" } });
    const { name, type, componentId, inputs, outputs, ...settings } = (spec.jobs as Record<string, Record<string, unknown>>).score;
    assert.deepStrictEqual(settings, { ...NODE_SETTINGS, resources: { instance_count: 3 }, mini_batch_size: 4, retry_settings: { max_retries: 2, timeout: 90 } });
    assert.notStrictEqual(pipelineComponentSpec(pipeline, { ...ids, parallel: { resources: { instance_count: 3 } } }).version, pipelineComponentSpec(pipeline, ids).version);
  });

  it("a command component still gives the command spec (code, environment, command at the top)", () => {
    const fs = require("fs") as typeof import("fs");
    const os = require("os") as typeof import("os");
    const path = require("path") as typeof import("path");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "command-yaml-"));
    try {
      fs.mkdirSync(path.join(dir, "src"));
      const file = path.join(dir, "c.yml");
      fs.writeFileSync(file, ["name: c", "type: command", "inputs: {d: {type: uri_folder}}", "code: src", "environment: azureml:uci-heart-scoring@latest", "command: python c.py ${{inputs.d}}"].join("\n"));
      const { spec } = componentSpec(loadCommandComponent(file), { codeId: CODE_ID, environmentIds: { "uci-heart-scoring": ENV_ID } });
      assert.deepStrictEqual(spec, commandComponentSpec(loadCommandComponent(file), { codeId: CODE_ID, environmentIds: { "uci-heart-scoring": ENV_ID } }).spec);
      assert.deepStrictEqual([spec.type, spec.code, spec.environment, spec.command], ["command", `azureml:${CODE_ID}`, `azureml:${ENV_ID}`, "python c.py ${{inputs.d}}"]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
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

describe("parallel component YAML", function () {
  const fs = require("fs") as typeof import("fs");
  const os = require("os") as typeof import("os");
  const path = require("path") as typeof import("path");
  let dir: string;
  const GOOD = [
    "name: step",
    "type: parallel",
    "inputs:",
    "  data: {type: uri_folder}",
    "  n: {type: integer, default: 1}",
    "outputs:",
    "  out: {type: uri_folder}",
    "input_data: ${{inputs.data}}",
    "mini_batch_size: 3",
    "resources: {instance_count: 2}",
    "max_concurrency_per_instance: 4",
    "mini_batch_error_threshold: -1",
    "retry_settings: {max_retries: 1, timeout: 30}",
    "logging_level: DEBUG",
    "task:",
    "  type: run_function",
    "  code: src",
    "  entry_script: entry.py",
    "  environment: azureml:env@latest",
    "  program_arguments: --data ${{inputs.data}} --n ${{inputs.n}} --out ${{outputs.out}}",
  ];
  const write = (name: string, lines: string[]) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, lines.join("\n") + "\n");
    return file;
  };
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "parallel-yaml-"));
    fs.mkdirSync(path.join(dir, "src"));
    fs.writeFileSync(path.join(dir, "src", "entry.py"), "def init(): pass\ndef run(b): return b\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("loads a parallel component: settings typed, mini_batch_size kept as the schema's string, code folder resolved", () => {
    const c = loadComponent(write("good.yml", GOOD));
    assert.strictEqual(c.kind, "parallel");
    if (c.kind !== "parallel") return;
    assert.strictEqual(c.codeDir, path.join(dir, "src"));
    assert.strictEqual(c.inputData, "data");
    assert.deepStrictEqual(effectiveParallelSettings(c), {
      resources: { instance_count: 2 },
      max_concurrency_per_instance: 4,
      mini_batch_size: "3",
      mini_batch_error_threshold: -1,
      retry_settings: { max_retries: 1, timeout: 30 },
      logging_level: "DEBUG",
    });
    assert.deepStrictEqual(effectiveParallelSettings(c, { retry_settings: { timeout: 5 }, mini_batch_size: "1" }).retry_settings, { max_retries: 1, timeout: 5 });
    assert.throws(() => loadCommandComponent(path.join(dir, "good.yml")), /type must be "command" \(got "parallel"\)/);
  });

  it("reports every problem of a bad parallel component at once, naming file and key", () => {
    const bad = write("bad.yml", [
      "name: step",
      "type: parallel",
      "inputs:",
      "  data: {type: uri_folder}",
      "  m: {type: mlflow_model}",
      "outputs:",
      "  out: {type: uri_folder}",
      "input_data: ${{inputs.m}}",
      'mini_batch_size: "10kb"',
      "resources: {instance_count: 0, instance_type: big}",
      "max_concurrency_per_instance: 0",
      "mini_batch_error_threshold: -2",
      "error_threshold: 5",
      "retry_settings: {max_retries: -1, timeout: 300000, backoff: 2}",
      "logging_level: TRACE",
      "task:",
      "  type: model",
      "  code: src",
      "  entry_script: missing.py",
      "  environment: azureml:env@latest",
      "  append_row_to: ${{outputs.out}}",
      "  program_arguments: --x ${{inputs.nope}}",
    ]);
    assert.throws(() => loadComponent(bad), (e: Error) => {
      assert.ok(e instanceof ComponentYamlError);
      const text = e.problems.join("\n");
      for (const re of [
        /bad\.yml: resources\.instance_type is not supported \(only instance_count\)/,
        /resources\.instance_count must be a whole number >= 1/,
        /max_concurrency_per_instance must be a whole number >= 1/,
        /mini_batch_size must be a whole number of files >= 1 \(got "10kb"; sizes such as 10kb apply to mltable inputs only\)/,
        /mini_batch_error_threshold must be a whole number >= -1/,
        /retry_settings\.backoff is not a retry setting/,
        /retry_settings\.max_retries must be a whole number >= 0/,
        /retry_settings\.timeout must be whole seconds in 1\.\.259200/,
        /logging_level must be one of DEBUG, INFO, WARNING/,
        /error_threshold is not supported here/,
        /input_data must name a uri_folder input \(inputs\.m is mlflow_model\)/,
        /task\.type must be "run_function" \(got "model"\)/,
        /task\.program_arguments uses \$\{\{inputs\.nope\}\} but inputs has no nope/,
        /task\.append_row_to is not supported/,
        /task\.entry_script missing\.py is not a file in /,
      ]) assert.match(text, re);
      assert.strictEqual(e.problems.length, 15, text);
      return true;
    });
  });

  it("refuses a pipeline node whose type differs from its component's, and run settings on a command node", () => {
    fs.writeFileSync(path.join(dir, "cmd.yml"), ["name: cmd", "type: command", "inputs: {data: {type: uri_folder}}", "outputs: {out: {type: uri_folder}}", "code: src", "environment: azureml:env@latest", "command: python entry.py ${{inputs.data}} ${{outputs.out}}"].join("\n"));
    const pipeline = write("pipeline.yml", [
      "type: pipeline",
      "name: p",
      "inputs: {input_data: {type: uri_folder}}",
      "outputs: {result: {type: uri_folder}}",
      "jobs:",
      "  a:",
      "    type: command",
      "    component: ./good.yml",
      "    inputs: {data: \"${{parent.inputs.input_data}}\"}",
      "  b:",
      "    type: command",
      "    component: ./cmd.yml",
      "    mini_batch_size: 2",
      "    inputs: {data: \"${{parent.inputs.input_data}}\"}",
      "    outputs: {out: \"${{parent.outputs.result}}\"}",
      "  c:",
      "    type: parallel",
      "    component: ./good.yml",
      "    retry_settings: {timeout: 0}",
      "    inputs: {data: \"${{parent.inputs.input_data}}\"}",
    ]);
    assert.throws(() => loadPipeline(pipeline), (e: Error) => {
      const text = (e as ComponentYamlError).problems.join("\n");
      assert.match(text, /jobs\.a: type command but component step is a parallel component/);
      assert.match(text, /jobs\.b: mini_batch_size only apply to a parallel step/);
      assert.match(text, /jobs\.c: retry_settings\.timeout must be whole seconds in 1\.\.259200/);
      return true;
    });
  });
});
