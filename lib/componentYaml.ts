/**
 * Loads the Azure ML CLI v2 YAML under components/ (the pipeline component, the command components it
 * names, and the environment) into plain, validated data. The stack and the local runner both read the
 * pipeline through this module, so there is one definition of it and no copy in TypeScript.
 *
 * Pure apart from reading the YAML files; every problem found is reported at once, naming the file and key.
 */
import * as fs from "fs";
import * as path from "path";
import YAML from "yaml";

export const COMPONENTS_DIR = path.resolve(__dirname, "..", "components");
export const DEFAULT_PIPELINE_FILE = path.join(COMPONENTS_DIR, "pipeline.yml");
export const DEFAULT_ENVIRONMENT_FILE = path.join(COMPONENTS_DIR, "environment", "environment.yml");

export type Literal = string | number | boolean;

export interface InputSpec {
  readonly type: string;
  readonly default?: Literal;
  readonly optional?: boolean;
  readonly enum?: readonly string[];
  readonly description?: string;
}

export interface OutputSpec {
  readonly type: string;
  readonly mode?: string;
  readonly description?: string;
}

/** A command component's YAML, as written (snake_case keys, Azure ML's own). */
export interface CommandComponentSpec {
  readonly $schema?: string;
  readonly name: string;
  readonly display_name?: string;
  readonly description?: string;
  readonly type: "command";
  readonly version?: string;
  readonly inputs: Record<string, InputSpec>;
  readonly outputs: Record<string, OutputSpec>;
  readonly code: string;
  readonly environment: string;
  readonly command: string;
}

export interface CommandComponent {
  readonly kind: "command";
  /** Absolute path of the YAML file. */
  readonly file: string;
  /** Absolute path of the code folder (`code:` resolved against the YAML's folder). */
  readonly codeDir: string;
  readonly spec: CommandComponentSpec;
}

/** Logging levels a parallel step accepts (azure-ai-ml ParallelComponentSchema.logging_level). */
export const PARALLEL_LOGGING_LEVELS = ["DEBUG", "INFO", "WARNING"] as const;
/** retry_settings.timeout must lie in (0, 259200] seconds (CLI v2 parallel job reference). */
export const PARALLEL_TIMEOUT_MAX = 259200;

/**
 * The run settings of a parallel step, as CLI v2 YAML writes them: on the component (its defaults) and on a
 * pipeline's `jobs.<step>` node (overrides). `mini_batch_size` counts files: the only meaning it has for a
 * uri_folder input (sizes such as "10kb" apply to mltable inputs, which this project has none of).
 */
export interface ParallelSettings {
  readonly resources?: { readonly instance_count?: number };
  readonly max_concurrency_per_instance?: number;
  readonly mini_batch_size?: string;
  readonly mini_batch_error_threshold?: number;
  readonly retry_settings?: { readonly max_retries?: number; readonly timeout?: number };
  readonly logging_level?: (typeof PARALLEL_LOGGING_LEVELS)[number];
}

export interface ParallelTask {
  readonly type: "run_function";
  readonly code: string;
  readonly entry_script: string;
  readonly environment: string;
  readonly program_arguments?: string;
}

/** A parallel component's YAML (CLI v2 parallelComponent schema), as written. */
export interface ParallelComponentSpec extends ParallelSettings {
  readonly $schema?: string;
  readonly name: string;
  readonly display_name?: string;
  readonly description?: string;
  readonly type: "parallel";
  readonly version?: string;
  readonly inputs: Record<string, InputSpec>;
  readonly outputs: Record<string, OutputSpec>;
  /** `${{inputs.X}}`: the input whose files are split into mini-batches. */
  readonly input_data: string;
  readonly task: ParallelTask;
}

export interface ParallelComponent {
  readonly kind: "parallel";
  readonly file: string;
  /** Absolute path of the code folder (`task.code` resolved against the YAML's folder). */
  readonly codeDir: string;
  /** The input named by `input_data`. */
  readonly inputData: string;
  readonly spec: ParallelComponentSpec;
}

/** A pipeline step's component. */
export type StepComponent = CommandComponent | ParallelComponent;

/** The command line a step runs: a command component's `command`, a parallel one's `task.program_arguments`. */
export function componentArguments(component: StepComponent): string {
  return component.kind === "command" ? component.spec.command : component.spec.task.program_arguments ?? "";
}

/** How a step input is bound in the pipeline YAML. */
export type StepInput =
  | { readonly kind: "binding"; readonly expression: string; readonly ref: BindingRef }
  | { readonly kind: "asset"; readonly type: string; readonly path: string; readonly asset: AssetRef }
  | { readonly kind: "literal"; readonly value: Literal };

/** A `${{parent.…}}` expression, parsed. */
export type BindingRef =
  | { readonly scope: "parent.inputs"; readonly name: string }
  | { readonly scope: "parent.outputs"; readonly name: string }
  | { readonly scope: "parent.jobs"; readonly job: string; readonly port: "outputs"; readonly name: string };

/** An `azureml:<name>@latest` or `azureml:<name>:<version>` reference. */
export interface AssetRef {
  readonly name: string;
  /** undefined means `@latest`. */
  readonly version?: string;
}

export interface PipelineStep {
  readonly name: string;
  readonly component: StepComponent;
  /** A parallel step's overrides on its `jobs.<step>` node (empty for command steps). */
  readonly settings: ParallelSettings;
  readonly inputs: Record<string, StepInput>;
  /** Step output name → the pipeline output it is routed to (`${{parent.outputs.X}}`), if any. */
  readonly outputs: Record<string, BindingRef | undefined>;
}

export interface PipelineComponentSpec {
  readonly $schema?: string;
  readonly type: "pipeline";
  readonly name: string;
  readonly display_name?: string;
  readonly description?: string;
  readonly version?: string;
  readonly inputs: Record<string, InputSpec>;
  readonly outputs: Record<string, OutputSpec>;
  readonly jobs: Record<string, unknown>;
}

export interface PipelineDefinition {
  readonly file: string;
  readonly spec: PipelineComponentSpec;
  /** Steps in dependency order (a step comes after every step whose outputs it reads). */
  readonly steps: readonly PipelineStep[];
}

export interface EnvironmentDefinition {
  readonly file: string;
  readonly name: string;
  readonly description?: string;
  readonly image: string;
  readonly condaFile: string;
  /** The conda file's text, as Azure ML's environment version takes it. */
  readonly condaText: string;
}

export class ComponentYamlError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid component YAML:\n  - ${problems.join("\n  - ")}`);
    this.name = "ComponentYamlError";
  }
}

const BINDING = /^\$\{\{\s*([^}]+?)\s*\}\}$/;
const ASSET = /^azureml:([A-Za-z0-9][A-Za-z0-9_.-]*)(?:@latest|:([A-Za-z0-9_.-]+))$/;

export function parseBinding(expression: string): BindingRef | undefined {
  const m = BINDING.exec(expression.trim());
  if (!m) return undefined;
  const parts = m[1].split(".");
  if (parts[0] !== "parent") return undefined;
  if (parts.length === 3 && (parts[1] === "inputs" || parts[1] === "outputs")) {
    return { scope: `parent.${parts[1]}` as "parent.inputs" | "parent.outputs", name: parts[2] };
  }
  if (parts.length === 5 && parts[1] === "jobs" && parts[3] === "outputs") {
    return { scope: "parent.jobs", job: parts[2], port: "outputs", name: parts[4] };
  }
  return undefined;
}

export function parseAssetRef(ref: string): AssetRef | undefined {
  const m = ASSET.exec(ref.trim());
  return m ? { name: m[1], version: m[2] } : undefined;
}

/** Placeholders `${{inputs.X}}` / `${{outputs.X}}` in a command, in order of appearance. */
export function commandPlaceholders(command: string): { port: "inputs" | "outputs"; name: string }[] {
  const found: { port: "inputs" | "outputs"; name: string }[] = [];
  for (const m of command.matchAll(/\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_]+)\s*\}\}/g)) {
    found.push({ port: m[1] as "inputs" | "outputs", name: m[2] });
  }
  return found;
}

function readYaml(file: string, problems: string[]): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    problems.push(`${file}: cannot be read (${(e as Error).message})`);
    return undefined;
  }
  try {
    const doc = YAML.parse(text);
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
      problems.push(`${file}: expected a YAML mapping at the top level`);
      return undefined;
    }
    return doc as Record<string, unknown>;
  } catch (e) {
    problems.push(`${file}: not valid YAML (${(e as Error).message})`);
    return undefined;
  }
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function loadCommandComponent(file: string): CommandComponent {
  const component = loadComponent(file);
  if (component.kind !== "command") throw new ComponentYamlError([`${component.file}: type must be "command" (got "${component.kind}")`]);
  return component;
}

/** A command or parallel component's YAML, validated. */
export function loadComponent(file: string): StepComponent {
  const problems: string[] = [];
  const component = readComponent(path.resolve(file), problems);
  if (problems.length > 0 || !component) throw new ComponentYamlError(problems);
  return component;
}

function readComponent(file: string, problems: string[]): StepComponent | undefined {
  const doc = readYaml(file, problems);
  if (!doc) return undefined;
  if (doc.type === "parallel") return readParallelComponent(file, doc, problems);
  return readCommandComponent(file, doc, problems);
}

function readPorts(file: string, doc: Record<string, unknown>, problems: string[]) {
  for (const key of ["inputs", "outputs"]) {
    if (doc[key] !== undefined && !isMapping(doc[key])) problems.push(`${file}: ${key} must be a mapping`);
  }
  const inputs = (isMapping(doc.inputs) ? doc.inputs : {}) as Record<string, InputSpec>;
  const outputs = (isMapping(doc.outputs) ? doc.outputs : {}) as Record<string, OutputSpec>;
  for (const [kind, ports] of [["inputs", inputs], ["outputs", outputs]] as const) {
    for (const [name, port] of Object.entries(ports)) {
      if (!isMapping(port) || typeof port.type !== "string") problems.push(`${file}: ${kind}.${name}.type must be a string`);
    }
  }
  return { inputs, outputs };
}

function checkPlaceholders(where: string, text: string, inputs: Record<string, InputSpec>, outputs: Record<string, OutputSpec>, problems: string[]): void {
  for (const p of commandPlaceholders(text)) {
    const ports = p.port === "inputs" ? inputs : outputs;
    if (!(p.name in ports)) problems.push(`${where} uses \${{${p.port}.${p.name}}} but ${p.port} has no ${p.name}`);
  }
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/**
 * Checks a parallel step's settings (on a component or a pipeline node) and returns them in their typed form.
 * mini_batch_size may be written as a number or a string of digits; it is kept as the string the schema has.
 */
export function readParallelSettings(where: string, doc: Record<string, unknown>, problems: string[]): ParallelSettings {
  const out: Record<string, unknown> = {};
  if (doc.resources !== undefined) {
    const r = doc.resources;
    if (!isMapping(r)) problems.push(`${where}: resources must be a mapping {instance_count}`);
    else {
      for (const k of Object.keys(r)) if (k !== "instance_count") problems.push(`${where}: resources.${k} is not supported (only instance_count)`);
      if (r.instance_count !== undefined && !(isInt(r.instance_count) && r.instance_count >= 1)) problems.push(`${where}: resources.instance_count must be a whole number >= 1`);
      else if (r.instance_count !== undefined) out.resources = { instance_count: r.instance_count };
    }
  }
  if (doc.max_concurrency_per_instance !== undefined) {
    const v = doc.max_concurrency_per_instance;
    if (!(isInt(v) && v >= 1)) problems.push(`${where}: max_concurrency_per_instance must be a whole number >= 1`);
    else out.max_concurrency_per_instance = v;
  }
  if (doc.mini_batch_size !== undefined) {
    const v = String(doc.mini_batch_size).trim();
    if (!/^[1-9]\d*$/.test(v)) problems.push(`${where}: mini_batch_size must be a whole number of files >= 1 (got ${JSON.stringify(doc.mini_batch_size)}; sizes such as 10kb apply to mltable inputs only)`);
    else out.mini_batch_size = v;
  }
  if (doc.mini_batch_error_threshold !== undefined) {
    const v = doc.mini_batch_error_threshold;
    if (!(isInt(v) && v >= -1)) problems.push(`${where}: mini_batch_error_threshold must be a whole number >= -1 (-1: ignore every failed mini-batch)`);
    else out.mini_batch_error_threshold = v;
  }
  if (doc.retry_settings !== undefined) {
    const r = doc.retry_settings;
    if (!isMapping(r)) problems.push(`${where}: retry_settings must be a mapping {max_retries, timeout}`);
    else {
      const rs: Record<string, number> = {};
      for (const k of Object.keys(r)) if (k !== "max_retries" && k !== "timeout") problems.push(`${where}: retry_settings.${k} is not a retry setting (max_retries, timeout)`);
      if (r.max_retries !== undefined) {
        if (!(isInt(r.max_retries) && r.max_retries >= 0)) problems.push(`${where}: retry_settings.max_retries must be a whole number >= 0`);
        else rs.max_retries = r.max_retries;
      }
      if (r.timeout !== undefined) {
        if (!(isInt(r.timeout) && r.timeout > 0 && r.timeout <= PARALLEL_TIMEOUT_MAX)) problems.push(`${where}: retry_settings.timeout must be whole seconds in 1..${PARALLEL_TIMEOUT_MAX}`);
        else rs.timeout = r.timeout;
      }
      out.retry_settings = rs;
    }
  }
  if (doc.logging_level !== undefined) {
    if (!(PARALLEL_LOGGING_LEVELS as readonly unknown[]).includes(doc.logging_level)) problems.push(`${where}: logging_level must be one of ${PARALLEL_LOGGING_LEVELS.join(", ")}`);
    else out.logging_level = doc.logging_level;
  }
  return out as ParallelSettings;
}

const PARALLEL_KEYS = ["resources", "max_concurrency_per_instance", "mini_batch_size", "mini_batch_error_threshold", "retry_settings", "logging_level"];

function readParallelComponent(file: string, doc: Record<string, unknown>, problems: string[]): ParallelComponent | undefined {
  const before = problems.length;
  if (typeof doc.name !== "string" || doc.name.trim() === "") problems.push(`${file}: name must be a non-empty string`);
  const { inputs, outputs } = readPorts(file, doc, problems);
  const settings = readParallelSettings(file, doc, problems);
  for (const k of ["error_threshold", "partition_keys", "environment_variables"]) {
    if (doc[k] !== undefined) problems.push(`${file}: ${k} is not supported here (the local runner does not emulate it); use mini_batch_error_threshold`);
  }
  const ref = typeof doc.input_data === "string" ? /^\$\{\{\s*inputs\.([A-Za-z0-9_]+)\s*\}\}$/.exec(doc.input_data.trim()) : null;
  const inputData = ref?.[1] ?? "";
  if (!ref) problems.push(`${file}: input_data must be \${{inputs.<name>}} (the input whose files are split into mini-batches)`);
  else if (!(inputData in inputs)) problems.push(`${file}: input_data names inputs.${inputData}, which does not exist`);
  else if (inputs[inputData]?.type !== "uri_folder") problems.push(`${file}: input_data must name a uri_folder input (inputs.${inputData} is ${inputs[inputData]?.type})`);
  const task = doc.task;
  let codeDir = "";
  if (!isMapping(task)) problems.push(`${file}: task must be a mapping {type: run_function, code, entry_script, environment, program_arguments}`);
  else {
    if (task.type !== "run_function") problems.push(`${file}: task.type must be "run_function" (got ${JSON.stringify(task.type)})`);
    for (const key of ["code", "entry_script", "environment"]) {
      if (typeof task[key] !== "string" || (task[key] as string).trim() === "") problems.push(`${file}: task.${key} must be a non-empty string`);
    }
    if (task.program_arguments !== undefined && typeof task.program_arguments !== "string") problems.push(`${file}: task.program_arguments must be a string`);
    if (typeof task.program_arguments === "string") checkPlaceholders(`${file}: task.program_arguments`, task.program_arguments, inputs, outputs, problems);
    for (const k of Object.keys(task)) {
      if (!["type", "code", "entry_script", "environment", "program_arguments"].includes(k)) problems.push(`${file}: task.${k} is not supported (type, code, entry_script, environment, program_arguments)`);
    }
    if (typeof task.code === "string") {
      codeDir = path.resolve(path.dirname(file), task.code);
      if (!fs.existsSync(codeDir)) problems.push(`${file}: task.code folder ${codeDir} does not exist`);
      else if (typeof task.entry_script === "string" && !fs.statSync(path.join(codeDir, task.entry_script), { throwIfNoEntry: false })?.isFile()) {
        problems.push(`${file}: task.entry_script ${task.entry_script} is not a file in ${codeDir}`);
      }
    }
  }
  if (problems.length > before) return undefined;
  const spec = { ...doc, ...settings, inputs, outputs } as unknown as ParallelComponentSpec;
  return { kind: "parallel", file, codeDir, inputData, spec };
}

function readCommandComponent(file: string, doc: Record<string, unknown>, problems: string[]): CommandComponent | undefined {
  const before = problems.length;
  if (doc.type !== "command") problems.push(`${file}: type must be "command" or "parallel" (got ${JSON.stringify(doc.type)})`);
  for (const key of ["name", "code", "environment", "command"]) {
    if (typeof doc[key] !== "string" || (doc[key] as string).trim() === "") problems.push(`${file}: ${key} must be a non-empty string`);
  }
  const { inputs, outputs } = readPorts(file, doc, problems);
  if (typeof doc.command === "string") checkPlaceholders(`${file}: command`, doc.command, inputs, outputs, problems);
  const codeDir = typeof doc.code === "string" ? path.resolve(path.dirname(file), doc.code) : "";
  if (codeDir && !fs.existsSync(codeDir)) problems.push(`${file}: code folder ${codeDir} does not exist`);
  if (problems.length > before) return undefined;
  const spec = { ...doc, inputs, outputs } as unknown as CommandComponentSpec;
  return { kind: "command", file, codeDir, spec };
}

function readStepInput(where: string, value: unknown, problems: string[]): StepInput | undefined {
  if (typeof value === "string") {
    const ref = parseBinding(value);
    if (ref) return { kind: "binding", expression: value.trim(), ref };
    if (value.includes("${{")) {
      problems.push(`${where}: unsupported binding ${value} (use \${{parent.inputs.X}} or \${{parent.jobs.S.outputs.X}})`);
      return undefined;
    }
    return { kind: "literal", value };
  }
  if (typeof value === "number" || typeof value === "boolean") return { kind: "literal", value };
  if (isMapping(value) && typeof value.path === "string" && typeof value.type === "string") {
    const asset = parseAssetRef(value.path);
    if (!asset) {
      problems.push(`${where}: path must be azureml:<name>@latest or azureml:<name>:<version> (got ${value.path})`);
      return undefined;
    }
    return { kind: "asset", type: value.type, path: value.path, asset };
  }
  problems.push(`${where}: expected a binding, a literal, or {type, path: azureml:...}`);
  return undefined;
}

/** Orders steps so that each comes after the steps whose outputs it reads; reports unknown jobs and cycles. */
export function orderSteps(steps: readonly PipelineStep[], where: string, problems: string[]): PipelineStep[] {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const deps = (s: PipelineStep) =>
    Object.values(s.inputs).flatMap((i) => (i.kind === "binding" && i.ref.scope === "parent.jobs" ? [i.ref.job] : []));
  const ordered: PipelineStep[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (s: PipelineStep, trail: string[]) => {
    if (state.get(s.name) === "done") return;
    if (state.get(s.name) === "visiting") {
      problems.push(`${where}: jobs form a cycle (${[...trail, s.name].join(" -> ")})`);
      return;
    }
    state.set(s.name, "visiting");
    for (const d of deps(s)) {
      const dep = byName.get(d);
      if (!dep) problems.push(`${where}: jobs.${s.name} reads outputs of unknown job ${d}`);
      else visit(dep, [...trail, s.name]);
    }
    state.set(s.name, "done");
    ordered.push(s);
  };
  for (const s of steps) visit(s, []);
  return ordered;
}

export function loadPipeline(file: string = DEFAULT_PIPELINE_FILE): PipelineDefinition {
  const abs = path.resolve(file);
  const problems: string[] = [];
  const doc = readYaml(abs, problems);
  if (!doc) throw new ComponentYamlError(problems);
  if (doc.type !== "pipeline") problems.push(`${abs}: type must be "pipeline"`);
  if (typeof doc.name !== "string") problems.push(`${abs}: name must be a string`);
  if (!isMapping(doc.jobs) || Object.keys(doc.jobs).length === 0) problems.push(`${abs}: jobs must name at least one step`);
  const inputs = (isMapping(doc.inputs) ? doc.inputs : {}) as Record<string, InputSpec>;
  const outputs = (isMapping(doc.outputs) ? doc.outputs : {}) as Record<string, OutputSpec>;

  const steps: PipelineStep[] = [];
  for (const [name, raw] of Object.entries(isMapping(doc.jobs) ? doc.jobs : {})) {
    const where = `${abs}: jobs.${name}`;
    if (!isMapping(raw) || (raw.type !== "command" && raw.type !== "parallel") || typeof raw.component !== "string") {
      problems.push(`${where}: must be {type: command | parallel, component: <path to component YAML>}`);
      continue;
    }
    const componentPath = raw.component.replace(/^file:/, "");
    if (componentPath.startsWith("azureml:")) {
      problems.push(`${where}: component must be a local YAML path so the stack can register it (got ${raw.component})`);
      continue;
    }
    const component = readComponent(path.resolve(path.dirname(abs), componentPath), problems);
    if (!component) continue;
    if (component.kind !== raw.type) {
      problems.push(`${where}: type ${raw.type} but component ${component.spec.name} is a ${component.kind} component`);
      continue;
    }
    const nodeSettings = Object.fromEntries(Object.entries(raw).filter(([k]) => PARALLEL_KEYS.includes(k)));
    if (component.kind === "command" && Object.keys(nodeSettings).length > 0) {
      problems.push(`${where}: ${Object.keys(nodeSettings).join(", ")} only apply to a parallel step`);
    }
    const settings = component.kind === "parallel" ? readParallelSettings(where, nodeSettings, problems) : {};
    const stepInputs: Record<string, StepInput> = {};
    for (const [inName, value] of Object.entries(isMapping(raw.inputs) ? raw.inputs : {})) {
      if (!(inName in component.spec.inputs)) {
        problems.push(`${where}.inputs.${inName}: component ${component.spec.name} has no input ${inName}`);
        continue;
      }
      const input = readStepInput(`${where}.inputs.${inName}`, value, problems);
      if (!input) continue;
      if (input.kind === "binding" && input.ref.scope === "parent.inputs" && !(input.ref.name in inputs)) {
        problems.push(`${where}.inputs.${inName}: pipeline has no input ${input.ref.name}`);
      }
      stepInputs[inName] = input;
    }
    for (const [inName, spec] of Object.entries(component.spec.inputs)) {
      if (!(inName in stepInputs) && spec.default === undefined && !spec.optional) {
        problems.push(`${where}.inputs.${inName}: required by component ${component.spec.name} but not bound`);
      }
    }
    const stepOutputs: Record<string, BindingRef | undefined> = {};
    for (const outName of Object.keys(component.spec.outputs)) stepOutputs[outName] = undefined;
    for (const [outName, value] of Object.entries(isMapping(raw.outputs) ? raw.outputs : {})) {
      if (!(outName in component.spec.outputs)) {
        problems.push(`${where}.outputs.${outName}: component ${component.spec.name} has no output ${outName}`);
        continue;
      }
      if (value === null || value === undefined) continue;
      const expr = typeof value === "string" ? value : isMapping(value) && typeof value.path === "string" ? value.path : undefined;
      const ref = expr ? parseBinding(expr) : undefined;
      if (!ref || ref.scope !== "parent.outputs" || !(ref.name in outputs)) {
        problems.push(`${where}.outputs.${outName}: must be \${{parent.outputs.<a pipeline output>}}`);
        continue;
      }
      stepOutputs[outName] = ref;
    }
    steps.push({ name, component, settings, inputs: stepInputs, outputs: stepOutputs });
  }
  for (const outName of Object.keys(outputs)) {
    const producers = steps.filter((s) => Object.values(s.outputs).some((r) => r?.name === outName));
    if (producers.length !== 1) problems.push(`${abs}: pipeline output ${outName} must be produced by exactly one step (found ${producers.length})`);
  }
  const ordered = orderSteps(steps, abs, problems);
  for (const s of ordered) {
    for (const [inName, input] of Object.entries(s.inputs)) {
      if (input.kind !== "binding" || input.ref.scope !== "parent.jobs") continue;
      const ref = input.ref;
      const dep = ordered.find((d) => d.name === ref.job);
      if (dep && !(ref.name in dep.component.spec.outputs)) {
        problems.push(`${abs}: jobs.${s.name}.inputs.${inName} reads ${ref.job}.outputs.${ref.name}, which does not exist`);
      }
    }
  }
  if (problems.length > 0) throw new ComponentYamlError(problems);
  const spec = { ...doc, inputs, outputs } as unknown as PipelineComponentSpec;
  return { file: abs, spec, steps: ordered };
}

export function loadEnvironment(file: string = DEFAULT_ENVIRONMENT_FILE): EnvironmentDefinition {
  const abs = path.resolve(file);
  const problems: string[] = [];
  const doc = readYaml(abs, problems);
  if (!doc) throw new ComponentYamlError(problems);
  for (const key of ["name", "image", "conda_file"]) {
    if (typeof doc[key] !== "string" || (doc[key] as string).trim() === "") problems.push(`${abs}: ${key} must be a non-empty string`);
  }
  if (problems.length > 0) throw new ComponentYamlError(problems);
  const condaFile = path.resolve(path.dirname(abs), doc.conda_file as string);
  let condaText = "";
  try {
    condaText = fs.readFileSync(condaFile, "utf8");
  } catch (e) {
    throw new ComponentYamlError([`${abs}: conda_file ${condaFile} cannot be read (${(e as Error).message})`]);
  }
  return {
    file: abs,
    name: doc.name as string,
    description: typeof doc.description === "string" ? doc.description : undefined,
    image: doc.image as string,
    condaFile,
    condaText,
  };
}

/** The distinct `azureml:` model references the pipeline binds, with the input type each is bound as. */
export function modelReferences(pipeline: PipelineDefinition): { name: string; type: string; version?: string }[] {
  const seen = new Map<string, { name: string; type: string; version?: string }>();
  for (const step of pipeline.steps) {
    for (const input of Object.values(step.inputs)) {
      if (input.kind === "asset") seen.set(input.asset.name, { name: input.asset.name, type: input.type, version: input.asset.version });
    }
  }
  return [...seen.values()];
}

/** A parallel step's settings as they run: the component's, overridden field by field by its pipeline node's. */
export function effectiveParallelSettings(component: ParallelComponent, node: ParallelSettings = {}): ParallelSettings {
  const c = component.spec;
  const merged: Record<string, unknown> = {};
  for (const key of PARALLEL_KEYS as (keyof ParallelSettings)[]) {
    const own = c[key];
    const over = node[key];
    if (key === "resources" || key === "retry_settings") {
      const both = { ...(own as object | undefined), ...(over as object | undefined) };
      if (Object.keys(both).length > 0) merged[key] = both;
    } else if ((over ?? own) !== undefined) merged[key] = over ?? own;
  }
  return merged as ParallelSettings;
}
