/**
 * Turns the pipeline definition plus the caller's inputs into the exact commands a local run executes:
 * `${{parent.*}}` bindings and `azureml:<name>@latest` models resolved to folders, `${{inputs.X}}` /
 * `${{outputs.X}}` replaced by shell-quoted values, the leading `python` replaced by the chosen interpreter.
 * Reads the file system to check what must exist, writes nothing; every problem is reported at once, before
 * anything runs.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { componentArguments, effectiveParallelSettings, ParallelSettings } from "../../../lib/componentYaml";
import type { InputSpec, Literal, PipelineDefinition, StepInput } from "../../../lib/componentYaml";

/** The local stand-in for Azure ML's parallel run (scripts/lib/local/parallel_driver.py). */
export const PARALLEL_DRIVER = path.join(__dirname, "parallel_driver.py");

/** Inputs that are folders (or a file, for uri_file) on Azure ML; everything else is a literal. */
const FOLDER_TYPES = new Set(["uri_folder", "custom_model", "mlflow_model", "triton_model", "mltable"]);
const FILE_TYPES = new Set(["uri_file"]);

export class LocalRunInputError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.length === 1 ? problems[0] : `the local run cannot start:\n  - ${problems.join("\n  - ")}`);
    this.name = "LocalRunInputError";
  }
}

/** How a parallel step runs locally: its settings as they apply, and the worker processes. */
export interface PlannedParallel {
  readonly settings: ParallelSettings;
  readonly workers: number;
  /** Per-worker logs: <runDir>/steps/<step>/workers/worker-<i>.log */
  readonly logDir: string;
}

export interface PlannedStep {
  readonly name: string;
  readonly component: string;
  readonly kind: "command" | "parallel";
  /** Set for a parallel step. */
  readonly parallel?: PlannedParallel;
  readonly codeDir: string;
  /** Ready for /bin/bash -c. */
  readonly command: string;
  /** Component input name → the value put in the command (absolute path or literal). */
  readonly inputs: Record<string, string>;
  /** Step output name → absolute folder. */
  readonly outputs: Record<string, string>;
}

export interface LocalRunPlan {
  readonly pipeline: PipelineDefinition;
  /** Pipeline inputs after defaults, folders absolute. */
  readonly inputs: Record<string, string>;
  /** Pipeline output name → absolute folder. */
  readonly outputs: Record<string, string>;
  readonly steps: readonly PlannedStep[];
}

export interface PlanArgs {
  readonly inputs: Readonly<Record<string, Literal | undefined>>;
  /** Folder of this run; step outputs go under <runDir>/outputs/<step>/<output>/. */
  readonly runDir: string;
  /** `azureml:<name>@latest` → <modelsDir>/<name>/. */
  readonly modelsDir: string;
  readonly python: string;
  /** Explicit folder for a pipeline output (must be absent or empty). */
  readonly outputs?: Readonly<Record<string, string | undefined>>;
  /** Relative input paths resolve against this (default: process.cwd()). */
  readonly cwd?: string;
  /** Worker processes of each parallel step. @default os.cpus().length */
  readonly workers?: number;
}

/** A valid worker count, or a problem naming the option. */
export function workersProblem(workers: unknown): string | undefined {
  return typeof workers === "number" && Number.isInteger(workers) && workers >= 1 && workers <= 256
    ? undefined
    : `workers must be a whole number from 1 to 256 (got ${JSON.stringify(workers)})`;
}

/** A --workers value as typed: a whole number from 1 to 256 (for the CLIs; the message names the flag). */
export function parseWorkers(flag: string, raw: string): { readonly workers?: number; readonly problem?: string } {
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  return workersProblem(n) ? { problem: `${flag} must be a whole number of worker processes from 1 to 256 (got '${raw}')` } : { workers: n };
}

/** The driver's command line for a parallel step (settings as they apply; the entry script's arguments after --). */
export function parallelCommand(python: string, entryScript: string, inputData: string, p: PlannedParallel, programArguments: string): string {
  const s = p.settings;
  const flags: [string, string | number | undefined][] = [
    ["--entry-script", entryScript],
    ["--input-data", inputData],
    ["--mini-batch-size", s.mini_batch_size ?? "1"],
    ["--workers", p.workers],
    ["--max-retries", s.retry_settings?.max_retries],
    ["--timeout", s.retry_settings?.timeout],
    ["--mini-batch-error-threshold", s.mini_batch_error_threshold],
    ["--logging-level", s.logging_level],
    ["--log-dir", p.logDir],
  ];
  const given = flags.filter(([, v]) => v !== undefined).map(([f, v]) => `${f} ${shellQuote(String(v))}`);
  return [shellQuote(python), shellQuote(PARALLEL_DRIVER), ...given, "--", programArguments].join(" ").trim();
}

/** POSIX shell single-quoting: safe for any path or value. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_\/.,:=+@%-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Replaces a leading `python`/`python3` word of a command with the given interpreter (as Azure ML's image resolves it). */
export function withInterpreter(command: string, python: string): string {
  return command.replace(/^(\s*)python3?(?=\s|$)/, (_m, lead: string) => `${lead}${shellQuote(python)}`);
}

function literalProblem(where: string, spec: InputSpec, value: string): string | undefined {
  if (spec.enum && !spec.enum.map(String).includes(value)) {
    return `${where} must be one of ${spec.enum.join(", ")} (got '${value}')`;
  }
  switch (spec.type) {
    case "integer":
      return /^[+-]?\d+$/.test(value) ? undefined : `${where} must be an integer (got '${value}')`;
    case "number":
      return value.trim() !== "" && Number.isFinite(Number(value)) ? undefined : `${where} must be a number (got '${value}')`;
    case "boolean":
      return /^(true|false)$/i.test(value) ? undefined : `${where} must be true or false (got '${value}')`;
    default:
      return undefined;
  }
}

function pathProblem(where: string, type: string, p: string): string | undefined {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (FOLDER_TYPES.has(type)) {
    if (!st) return `${where}: folder ${p} does not exist`;
    if (!st.isDirectory()) return `${where}: ${p} is not a folder`;
  } else if (FILE_TYPES.has(type)) {
    if (!st) return `${where}: file ${p} does not exist`;
    if (!st.isFile()) return `${where}: ${p} is not a file`;
  }
  return undefined;
}

const isPathType = (type: string) => FOLDER_TYPES.has(type) || FILE_TYPES.has(type);

/** Builds the plan or throws LocalRunInputError with every problem found. */
export function planLocalRun(pipeline: PipelineDefinition, args: PlanArgs): LocalRunPlan {
  const problems: string[] = [];
  const cwd = args.cwd ?? process.cwd();
  const workers = args.workers ?? Math.max(1, os.cpus().length);
  const wp = workersProblem(workers);
  if (wp) problems.push(wp);
  const specInputs = pipeline.spec.inputs;
  const specOutputs = pipeline.spec.outputs;

  // Pipeline inputs: known names only, defaults applied, required ones present, folders absolute and existing.
  const inputs: Record<string, string> = {};
  for (const [name, value] of Object.entries(args.inputs)) {
    if (value !== undefined && !(name in specInputs)) problems.push(`unknown pipeline input '${name}' (accepted: ${Object.keys(specInputs).join(", ")})`);
  }
  for (const [name, spec] of Object.entries(specInputs)) {
    const given = args.inputs[name];
    const value = given ?? spec.default;
    if (value === undefined) {
      if (!spec.optional) problems.push(`pipeline input '${name}' (${spec.type}) is required`);
      continue;
    }
    const where = `pipeline input '${name}'`;
    if (isPathType(spec.type)) {
      const abs = path.resolve(cwd, String(value));
      const p = pathProblem(where, spec.type, abs);
      if (p) problems.push(p);
      inputs[name] = abs;
    } else {
      const p = literalProblem(where, spec, String(value));
      if (p) problems.push(p);
      inputs[name] = String(value);
    }
  }

  // Pipeline outputs: under the run folder unless the caller names a folder.
  const explicit = args.outputs ?? {};
  for (const [name, folder] of Object.entries(explicit)) {
    if (folder !== undefined && !(name in specOutputs)) problems.push(`unknown pipeline output '${name}' (accepted: ${Object.keys(specOutputs).join(", ")})`);
  }
  const routed = new Map<string, string>(); // "<step>.<output>" → its folder
  const outputs: Record<string, string> = {};
  for (const step of pipeline.steps) {
    for (const [outName, ref] of Object.entries(step.outputs)) {
      const folder = ref ? explicit[ref.name] : undefined;
      const abs = folder ? path.resolve(cwd, folder) : path.join(args.runDir, "outputs", step.name, outName);
      if (folder) {
        const st = fs.statSync(abs, { throwIfNoEntry: false });
        if (st && !st.isDirectory()) problems.push(`pipeline output '${ref!.name}': ${abs} exists and is not a folder`);
        else if (st && fs.readdirSync(abs).length > 0) problems.push(`pipeline output '${ref!.name}': folder ${abs} is not empty (give a new or empty folder)`);
      }
      routed.set(`${step.name}.${outName}`, abs);
      if (ref) outputs[ref.name] = abs;
    }
  }

  const modelProblems = new Set<string>();
  const steps: PlannedStep[] = [];
  for (const step of pipeline.steps) {
    const component = step.component.spec;
    const values: Record<string, string> = {};
    for (const [inName, spec] of Object.entries(component.inputs)) {
      const where = `step '${step.name}' input '${inName}'`;
      const bound: StepInput | undefined = step.inputs[inName];
      let value: string | undefined;
      let fromPath = false;
      if (!bound) {
        if (spec.default !== undefined) value = String(spec.default);
      } else if (bound.kind === "literal") {
        value = String(bound.value);
      } else if (bound.kind === "asset") {
        value = path.join(path.resolve(args.modelsDir), bound.asset.name);
        fromPath = true;
        const st = fs.statSync(value, { throwIfNoEntry: false });
        if (!st?.isDirectory()) {
          modelProblems.add(
            `model ${bound.path} (${where}) resolves to the folder ${value}, which does not exist: ` +
              `run models/train.py with ${args.python} to write it, or give the folder that holds the models`,
          );
        }
      } else {
        const ref = bound.ref;
        if (ref.scope === "parent.inputs") {
          value = inputs[ref.name];
          fromPath = isPathType(specInputs[ref.name]?.type ?? "");
          if (value === undefined && !spec.optional && spec.default === undefined) problems.push(`${where}: bound to pipeline input '${ref.name}', which has no value`);
          if (value === undefined) value = spec.default === undefined ? undefined : String(spec.default);
        } else if (ref.scope === "parent.outputs") {
          value = outputs[ref.name];
          fromPath = true;
        } else {
          value = routed.get(`${ref.job}.${ref.name}`);
          fromPath = true;
        }
      }
      if (value === undefined) continue;
      if (!fromPath && !isPathType(spec.type)) {
        // Name the pipeline input the user actually set, when the value came from one.
        const source =
          bound?.kind === "binding" && bound.ref.scope === "parent.inputs" ? `pipeline input '${bound.ref.name}' (bound to ${where})` : where;
        const p = literalProblem(source, spec, value);
        if (p) problems.push(p);
      }
      values[inName] = value;
    }
    const stepOutputs: Record<string, string> = {};
    for (const outName of Object.keys(component.outputs)) stepOutputs[outName] = routed.get(`${step.name}.${outName}`)!;

    let command = componentArguments(step.component).replace(/\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_]+)\s*\}\}/g, (m, port: string, name: string) => {
      const v = port === "inputs" ? values[name] : stepOutputs[name];
      if (v === undefined) {
        problems.push(`step '${step.name}': command uses ${m} but it has no value (bind it in ${pipeline.file} or give it a default)`);
        return m;
      }
      return shellQuote(v);
    });
    let parallel: PlannedParallel | undefined;
    if (step.component.kind === "parallel") {
      parallel = { settings: effectiveParallelSettings(step.component, step.settings), workers, logDir: path.join(args.runDir, "steps", step.name, "workers") };
      const inputData = values[step.component.inputData];
      if (inputData === undefined) problems.push(`step '${step.name}': input_data reads inputs.${step.component.inputData}, which has no value`);
      command = parallelCommand(args.python, step.component.spec.task.entry_script, inputData ?? "", parallel, command.trim());
    } else {
      command = withInterpreter(command.trim(), args.python);
    }
    steps.push({
      name: step.name,
      component: component.name,
      kind: step.component.kind,
      ...(parallel ? { parallel } : {}),
      codeDir: step.component.codeDir,
      command,
      inputs: values,
      outputs: stepOutputs,
    });
  }
  problems.push(...modelProblems);
  if (problems.length > 0) throw new LocalRunInputError(problems);
  return { pipeline, inputs, outputs, steps };
}

/** The accepted values of a pipeline input: its own enum, else the enum of the component input(s) it is bound to. */
export function pipelineInputEnum(pipeline: PipelineDefinition, name: string): readonly string[] | undefined {
  const own = pipeline.spec.inputs[name]?.enum;
  if (own) return own.map(String);
  for (const step of pipeline.steps) {
    for (const [inName, bound] of Object.entries(step.inputs)) {
      if (bound.kind === "binding" && bound.ref.scope === "parent.inputs" && bound.ref.name === name) {
        const e = step.component.spec.inputs[inName]?.enum;
        if (e) return e.map(String);
      }
    }
  }
  return undefined;
}
