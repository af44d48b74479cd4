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
  return standin(root);
}

/** The handle on a stand-in pipeline written under root (components/, models/; runs go to runs/). */
function standin(root: string): StandinPipeline {
  return {
    root,
    pipelineFile: path.join(root, "components", "pipeline.yml"),
    modelsDir: path.join(root, "models"),
    runsDir: path.join(root, "runs"),
    inputFolder(name, files) {
      const dir = path.join(root, "inputs", name);
      fs.mkdirSync(dir, { recursive: true });
      for (const [f, content] of Object.entries(files)) write(path.join(dir, f), content);
      return dir;
    },
    remove() {
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/*
 * The same two steps as parallel components (CLI v2 `type: parallel`, entry scripts with init() and
 * run(mini_batch)), for the local parallel run. What each input file holds steers the first step:
 *   BAD          run() raises InputError naming file, column, row and value (bad input)
 *   FAIL_ONCE    run() raises RuntimeError the first time it sees the file, then succeeds
 *   CRASH_ONCE   the worker process dies (exit 3) the first time, then succeeds
 *   SLOW_ONCE    run() sleeps 30 s the first time (for the timeout), then succeeds
 *   ALWAYS_FAIL  run() raises RuntimeError every time
 *   SKIP         run() leaves the file out of what it returns (a mini-batch with missing results)
 *   SLEEP        run() sleeps 60 s (for cancel tests)
 * Attempts are counted in files under $STANDIN_STATE (shared by the worker processes).
 */
const P_FIRST_PY = `
import argparse, os, sys, time
args = None

class InputError(Exception):
    pass

def init():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--data"); p.add_argument("--tag"); p.add_argument("--out")
    args, _ = p.parse_known_args()
    print("first: init in pid", os.getpid(), file=sys.stderr, flush=True)

def attempt(rel):
    key = os.path.join(os.environ["STANDIN_STATE"], rel.replace(os.sep, "__"))
    n = int(open(key).read()) + 1 if os.path.exists(key) else 1
    open(key, "w").write(str(n))
    return n

def run(mini_batch):
    done = []
    for path in mini_batch:
        rel = os.path.relpath(path, args.data)
        text = open(path).read()
        if text.startswith("BAD"):
            raise InputError(rel + ": column 'age' must be numeric, but data row 1 holds 'BAD'")
        if text.startswith("FAIL_ONCE") and attempt(rel) == 1:
            raise RuntimeError(rel + ": failing once on purpose")
        if text.startswith("CRASH_ONCE") and attempt(rel) == 1:
            os._exit(3)
        if text.startswith("SLOW_ONCE") and attempt(rel) == 1:
            time.sleep(30)
        if text.startswith("SLEEP"):
            open(os.path.join(args.out, "started.txt"), "w").write(str(os.getpid()))
            time.sleep(60)
        if text.startswith("ALWAYS_FAIL"):
            raise RuntimeError(rel + ": always fails")
        if text.startswith("SKIP"):
            continue
        target = os.path.join(args.out, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target + ".partial", "w") as g:
            g.write(args.tag + ":" + text.upper())
        os.replace(target + ".partial", target)
        done.append(rel)
    print("first: did", ",".join(done), file=sys.stderr, flush=True)
    return done
`;

const P_SECOND_PY = `
import argparse, os, sys
args = None
model = None

def init():
    global args, model
    p = argparse.ArgumentParser()
    p.add_argument("--data"); p.add_argument("--model"); p.add_argument("--mode"); p.add_argument("--result")
    args, _ = p.parse_known_args()
    model = open(os.path.join(args.model, "weights.txt")).read().strip()

def run(mini_batch):
    done = []
    for path in mini_batch:
        rel = os.path.relpath(path, args.data)
        target = os.path.join(args.result, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(path) as f, open(target, "w") as g:
            g.write(args.mode + ":" + model + ":" + f.read())
        done.append(rel)
    return done
`;

const P_FIRST_YML = `
$schema: https://azuremlschemas.azureedge.net/latest/parallelComponent.schema.json
name: first
type: parallel
inputs:
  data: {type: uri_folder}
  tag: {type: string, default: x, enum: [x, y]}
outputs:
  out: {type: uri_folder}
input_data: \${{inputs.data}}
mini_batch_size: "2"
resources:
  instance_count: 1
max_concurrency_per_instance: 1
mini_batch_error_threshold: 0
retry_settings:
  max_retries: 2
  timeout: 60
logging_level: INFO
task:
  type: run_function
  code: src
  entry_script: first.py
  environment: azureml:standin-env@latest
  program_arguments: >-
    --data \${{inputs.data}}
    --tag \${{inputs.tag}}
    --out \${{outputs.out}}
`;

const P_SECOND_YML = `
name: second
type: parallel
inputs:
  data: {type: uri_folder}
  model: {type: custom_model}
  mode: {type: string, default: a, enum: [a, b]}
outputs:
  result: {type: uri_folder}
input_data: \${{inputs.data}}
mini_batch_size: "3"
task:
  type: run_function
  code: src
  entry_script: second.py
  environment: azureml:standin-env@latest
  program_arguments: >-
    --data \${{inputs.data}}
    --model \${{inputs.model}}
    --mode \${{inputs.mode}}
    --result \${{outputs.result}}
`;

/** The parallel stand-in pipeline; `firstNode` adds YAML lines (run settings) to the first step's node. */
export function makeStandinParallelPipeline(firstNode: string[] = []): StandinPipeline & { readonly stateDir: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "heart parallel-"));
  const components = path.join(root, "components");
  const pipeline = [
    "type: pipeline",
    "name: standin_parallel",
    "inputs:",
    "  input_data: {type: uri_folder}",
    "  mode: {type: string, default: a}",
    "outputs:",
    "  result: {type: uri_folder}",
    "jobs:",
    "  first:",
    "    type: parallel",
    "    component: ./first/first.yml",
    "    inputs:",
    "      data: ${{parent.inputs.input_data}}",
    ...firstNode.map((l) => `    ${l}`),
    "  second:",
    "    type: parallel",
    "    component: ./second/second.yml",
    "    inputs:",
    "      data: ${{parent.jobs.first.outputs.out}}",
    "      model: {type: custom_model, path: azureml:standin-model@latest}",
    "      mode: ${{parent.inputs.mode}}",
    "    outputs:",
    "      result: ${{parent.outputs.result}}",
    "",
  ].join("\n");
  write(path.join(components, "pipeline.yml"), pipeline);
  write(path.join(components, "first", "first.yml"), P_FIRST_YML);
  write(path.join(components, "first", "src", "first.py"), P_FIRST_PY);
  write(path.join(components, "second", "second.yml"), P_SECOND_YML);
  write(path.join(components, "second", "src", "second.py"), P_SECOND_PY);
  write(path.join(root, "models", "standin-model", "weights.txt"), "w42\n");
  const stateDir = path.join(root, "state");
  fs.mkdirSync(stateDir);
  return { ...standin(root), stateDir };
}
