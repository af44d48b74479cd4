/**
 * Stand-in pipelines for the local runner's own tests: two tiny command components (Python, no libraries)
 * wired like the real pipeline (folder input → step 1 → step 2 with a model and an enum literal → pipeline
 * output), whose behaviour is steered by marker files in the input folder:
 *   FAIL_FIRST    step "first" prints "first.py: error: FAIL_FIRST: asked to fail" and exits 2
 *   CRASH_SECOND  step "second" raises an exception (exit 1)
 *   SLEEP_FIRST   step "first" sleeps 60 s (for cancel tests); it writes started.txt into its output first
 *   IGNORE_TERM   with SLEEP_FIRST: step "first" ignores SIGTERM (cancel must fall back to SIGKILL)
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface StandinPipeline {
  readonly root: string;
  readonly pipelineFile: string;
  readonly modelsDir: string;
  readonly runsDir: string;
  /** Makes an input folder holding the given files (name → content). */
  inputFolder(name: string, files: Record<string, string>): string;
  remove(): void;
}

const FIRST_PY = `
import argparse, os, sys, time, json
p = argparse.ArgumentParser()
p.add_argument("--data"); p.add_argument("--tag"); p.add_argument("--out")
a = p.parse_args()
names = sorted(os.listdir(a.data))
if "FAIL_FIRST" in names:
    print("first.py: reading", flush=True)
    print("first.py: warning: something minor", file=sys.stderr)
    print("first.py: error: FAIL_FIRST: asked to fail", file=sys.stderr)
    sys.exit(2)
if "SLEEP_FIRST" in names:
    if "IGNORE_TERM" in names:
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open(os.path.join(a.out, "started.txt"), "w").write(str(os.getpid()))
    time.sleep(60)
for n in names:
    with open(os.path.join(a.data, n)) as f, open(os.path.join(a.out, n), "w") as g:
        g.write(f.read().upper())
with open(os.path.join(a.out, "_first.json"), "w") as g:
    json.dump({"tag": a.tag, "cwd": os.getcwd(), "exe": sys.executable, "argv": sys.argv[1:]}, g)
print("first: wrote", len(names), "files")
`;

const SECOND_PY = `
import argparse, os, sys, json
p = argparse.ArgumentParser()
p.add_argument("--data"); p.add_argument("--model"); p.add_argument("--mode"); p.add_argument("--result")
a = p.parse_args()
names = sorted(os.listdir(a.data))
if "CRASH_SECOND" in names:
    raise RuntimeError("second crashed on purpose")
model = open(os.path.join(a.model, "weights.txt")).read().strip()
for n in names:
    if n.startswith("_"):
        continue
    with open(os.path.join(a.data, n)) as f, open(os.path.join(a.result, n), "w") as g:
        g.write(a.mode + ":" + model + ":" + f.read())
with open(os.path.join(a.result, "_second.json"), "w") as g:
    json.dump({"mode": a.mode, "model": a.model, "data": a.data, "cwd": os.getcwd(), "first": json.load(open(os.path.join(a.data, "_first.json")))}, g)
`;

const PIPELINE_YML = `
type: pipeline
name: standin_pipeline
inputs:
  input_data:
    type: uri_folder
  mode:
    type: string
    default: a
outputs:
  result:
    type: uri_folder
jobs:
  second:
    type: command
    component: ./second/second.yml
    inputs:
      data: \${{parent.jobs.first.outputs.out}}
      model:
        type: custom_model
        path: azureml:standin-model@latest
      mode: \${{parent.inputs.mode}}
    outputs:
      result: \${{parent.outputs.result}}
  first:
    type: command
    component: ./first/first.yml
    inputs:
      data: \${{parent.inputs.input_data}}
`;

const FIRST_YML = `
name: first
type: command
inputs:
  data: {type: uri_folder}
  tag: {type: string, default: x, enum: [x, y]}
outputs:
  out: {type: uri_folder}
code: src
environment: azureml:standin-env@latest
command: >-
  python first.py
  --data \${{inputs.data}}
  --tag \${{inputs.tag}}
  --out \${{outputs.out}}
`;

const SECOND_YML = `
name: second
type: command
inputs:
  data: {type: uri_folder}
  model: {type: custom_model}
  mode: {type: string, default: a, enum: [a, b]}
outputs:
  result: {type: uri_folder}
code: src
environment: azureml:standin-env@latest
command: >-
  python second.py
  --data \${{inputs.data}}
  --model \${{inputs.model}}
  --mode \${{inputs.mode}}
  --result \${{outputs.result}}
`;

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

/** Writes the stand-in pipeline into a new temp folder (the jobs are listed in reverse order on purpose). */
export function makeStandinPipeline(): StandinPipeline {
  // A space in the path checks that every path reaches the scripts intact.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "heart local-"));
  const components = path.join(root, "components");
  write(path.join(components, "pipeline.yml"), PIPELINE_YML);
  write(path.join(components, "first", "first.yml"), FIRST_YML);
  write(path.join(components, "first", "src", "first.py"), FIRST_PY);
  write(path.join(components, "second", "second.yml"), SECOND_YML);
  write(path.join(components, "second", "src", "second.py"), SECOND_PY);
  write(path.join(root, "models", "standin-model", "weights.txt"), "w42\n");
  return {
    root,
    pipelineFile: path.join(components, "pipeline.yml"),
    modelsDir: path.join(root, "models"),
    runsDir: path.join(root, "runs"),
    inputFolder(name, files) {
      const dir = path.join(root, "inputs", name);
      fs.mkdirSync(dir, { recursive: true });
      for (const [f, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), content);
      return dir;
    },
    remove() {
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
