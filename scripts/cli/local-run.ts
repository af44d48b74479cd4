/**
 * local-run: runs the scoring pipeline (components/pipeline.yml) on this machine, no Azure needed, and prints
 * where the scores are. Progress on stderr; the scores folder (or JSON with --json) on stdout.
 */
import * as os from "os";
import * as path from "path";
import { ComponentYamlError, loadPipeline, PipelineDefinition } from "../../lib/componentYaml";
import { CommandSpec, parseCommandLine, runCli, stringFlag } from "../lib/cli";
import { CliError, ExitCode } from "../lib/exitCodes";
import { REQUIRED_COLUMNS } from "../lib/local/inputFolder";
import { parseWorkers } from "../lib/local/plan";
import { summarizeOutputFolder } from "../lib/local/outputFolder";
import { checkInvokeInput, runsDirOf, scoreModes, secs } from "../lib/targets/commands";
import { DEFAULT_MODELS_DIR, LocalRunEvent, LocalRunInputError, LocalRunRecord, runLocalPipeline } from "../lib/local/runner";

const NAME = "local-run";
const SCORES_OUTPUT = "scores";
const MODELS_DIR_DEFAULT = "<repo>/models";

function commandSpec(scoreModes: readonly string[], defaultMode: string): CommandSpec {
  const spec: CommandSpec = {
    name: NAME,
    summary: "Score a folder of CSV files with the pipeline on this machine (no Azure).",
    usage: "ts-node scripts/cli/local-run.ts --input <folder> [--score-mode <mode>] [--workers <n>] [--json]",
    flags: {
      input: { type: "string", short: "i", valueName: "folder", description: "Folder of CSV files to score (each needs the 13 feature columns)." },
      "score-mode": {
        type: "string",
        valueName: "mode",
        description: `${scoreModes.join(" or ")}: append keeps the input columns and adds prediction; prediction_only writes prediction alone.`,
        default: defaultMode,
      },
      output: { type: "string", short: "o", valueName: "folder", description: "Write the scores into this new or empty folder instead of the run folder." },
      "runs-dir": { type: "string", valueName: "folder", description: "Where run folders are kept.", env: "HEART_RUNS_DIR", default: "<repo>/runs" },
      "run-id": { type: "string", valueName: "id", description: "Id of the run (letters, digits, - and _); default: time-based, unique." },
      "models-dir": { type: "string", valueName: "folder", description: "Folder holding the model folders (heart-classifier, heart-classifier-transforms).", env: "HEART_MODELS_DIR", default: MODELS_DIR_DEFAULT },
      workers: {
        type: "string",
        valueName: "n",
        description: `Worker processes of each parallel step (prepare, score), 1-256; default: the CPUs (${os.cpus().length} here). The scores are the same whatever it is.`,
        env: "HEART_WORKERS",
      },
      json: { type: "boolean", description: "Print a JSON summary (run id, status, scores folder, files, row counts) instead of the folder." },
    },
    details: [
      "Each run gets a folder <runs-dir>/<run id>/ with run.json (status, steps, exit codes, durations),",
      "steps/<step>/stdout.log and stderr.log, and outputs/<step>/<output>/; the scores are in outputs/score/scores/.",
      "prepare and score are parallel steps, run as Azure ML runs them: the input files are split into mini-batches",
      "handed to --workers processes (logs in steps/<step>/workers/worker-<i>.log), with the retries, timeout and",
      "error threshold of components/<step>/<step>.yml.",
      `Required columns: ${REQUIRED_COLUMNS.join(",")}.`,
      "Python: HEART_PYTHON, else /usr/bin/python3 (needs pandas, scikit-learn, xgboost).",
      "Flags, the folder, every CSV header and the score mode are checked before anything runs (exit 2). Bad values",
      "inside a file are found by the prepare step: the run fails (exit 1) with a message naming file, column and row.",
      "Ctrl-C cancels the running step and leaves the run Canceled (exit 130).",
      "",
      "Examples:",
      "  ts-node scripts/cli/local-run.ts --input data/unlabeled",
      "  ts-node scripts/cli/local-run.ts --input data/unlabeled --score-mode prediction_only --json",
    ].join("\n"),
  };
  return spec;
}

function progress(e: LocalRunEvent): void {
  const w = (s: string): void => void process.stderr.write(`${s}\n`);
  switch (e.type) {
    case "run-started":
      return w(`${NAME}: run ${e.runId} started (${e.runDir})`);
    case "step-started":
      return w(`${NAME}: [${e.step}] running`);
    case "step-output":
      return w(`  [${e.step}] ${e.line}`);
    case "step-finished":
      return w(`${NAME}: [${e.step}] ${e.status} in ${secs(e.durationMs)}${e.status === "Failed" ? ` (exit code ${e.exitCode})` : ""}`);
    case "run-finished":
      return w(`${NAME}: run ${e.runId} ${e.status} in ${secs(e.durationMs)}`);
  }
}

function loadPipelineOrExplain(): PipelineDefinition {
  try {
    return loadPipeline();
  } catch (e) {
    if (e instanceof ComponentYamlError) throw new CliError(ExitCode.Usage, e.message, "Fix the component YAML under components/ (it is the pipeline's definition).");
    throw e;
  }
}

async function main(signal: AbortSignal): Promise<number> {
  const pipeline = loadPipelineOrExplain();
  const { modes, defaultMode } = scoreModes(pipeline);
  const spec = commandSpec(modes, defaultMode);
  const { values } = parseCommandLine(spec);
  const input = stringFlag(spec, values, "input");
  const scoreMode = stringFlag(spec, values, "score-mode")!;
  const json = values.json === true;
  let workers: number | undefined;
  if (typeof values.workers === "string") {
    const parsed = parseWorkers("--workers", values.workers);
    if (parsed.problem) throw new CliError(ExitCode.Usage, parsed.problem);
    workers = parsed.workers;
  }

  // Everything the user can get wrong is checked here, together, before anything runs. The steps themselves
  // warn about the files they skip, so the check's warnings are not printed twice.
  checkInvokeInput(input, scoreMode, () => undefined, false);

  let record: LocalRunRecord;
  try {
    record = await runLocalPipeline({
      pipeline,
      inputs: { input_data: input!, score_mode: scoreMode },
      runsDir: runsDirOf(values),
      modelsDir: values["models-dir"] !== MODELS_DIR_DEFAULT ? path.resolve(stringFlag(spec, values, "models-dir")!) : DEFAULT_MODELS_DIR,
      runId: stringFlag(spec, values, "run-id"),
      outputs: { [SCORES_OUTPUT]: stringFlag(spec, values, "output") },
      workers,
      signal,
      onEvent: progress,
    });
  } catch (e) {
    if (e instanceof LocalRunInputError) throw new CliError(ExitCode.Usage, e.problems.join("\n  "));
    throw e;
  }

  const scores = record.outputs[SCORES_OUTPUT];
  const summary = record.status === "Completed" ? await summarizeOutputFolder(scores) : undefined;
  if (summary) process.stderr.write(`${NAME}: ${summary.rows} rows scored in ${summary.files.length} file${summary.files.length === 1 ? "" : "s"}\n`);
  if (json) {
    const out = {
      runId: record.runId,
      status: record.status,
      runDir: record.runDir,
      scores,
      files: summary?.files.map((f) => ({ name: f.name, rows: f.rows })) ?? [],
      rows: summary?.rows ?? 0,
      error: record.error,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else if (record.status === "Completed") {
    process.stdout.write(`${scores}\n`);
  }

  if (record.status === "Completed") return ExitCode.Success;
  if (record.status === "Canceled") {
    process.stderr.write(`${NAME}: run ${record.runId} was canceled; partial outputs are in ${record.runDir}\n`);
    return ExitCode.Interrupted;
  }
  const err = record.error;
  const step = record.steps.find((s) => s.name === err?.step);
  process.stderr.write(`${NAME}: error: step ${err?.step ?? "?"} failed: ${err?.message ?? "unknown error"}\n`);
  if (step) process.stderr.write(`${NAME}: logs: ${step.stderrLog}\n`);
  if (/ModuleNotFoundError|No module named/.test(err?.message ?? "")) {
    process.stderr.write(`${NAME}: the Python steps need pandas, scikit-learn and xgboost: run 'bash scripts/ensure-python.sh' or set HEART_PYTHON\n`);
  }
  // Like a failed Azure ML job, also when the step refused the data (error.kind "input" in run.json): only
  // what is checked before anything runs (flags, folder, headers, score mode) exits with Usage.
  return ExitCode.JobFailed;
}

runCli(NAME, ({ signal }) => main(signal));
