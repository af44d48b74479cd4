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
  /** Absolute path of the YAML file. */
  readonly file: string;
  /** Absolute path of the code folder (`code:` resolved against the YAML's folder). */
  readonly codeDir: string;
  readonly spec: CommandComponentSpec;
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
  readonly component: CommandComponent;
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
  const problems: string[] = [];
  const component = readCommandComponent(path.resolve(file), problems);
  if (problems.length > 0 || !component) throw new ComponentYamlError(problems);
  return component;
}

function readCommandComponent(file: string, problems: string[]): CommandComponent | undefined {
  const doc = readYaml(file, problems);
  if (!doc) return undefined;
  const before = problems.length;
  if (doc.type !== "command") problems.push(`${file}: type must be "command" (got ${JSON.stringify(doc.type)})`);
  for (const key of ["name", "code", "environment", "command"]) {
    if (typeof doc[key] !== "string" || (doc[key] as string).trim() === "") problems.push(`${file}: ${key} must be a non-empty string`);
  }
  for (const key of ["inputs", "outputs"]) {
    if (doc[key] !== undefined && !isMapping(doc[key])) problems.push(`${file}: ${key} must be a mapping`);
  }
  const inputs = (doc.inputs ?? {}) as Record<string, InputSpec>;
  const outputs = (doc.outputs ?? {}) as Record<string, OutputSpec>;
  for (const [kind, ports] of [["inputs", inputs], ["outputs", outputs]] as const) {
    for (const [name, port] of Object.entries(ports)) {
      if (!isMapping(port) || typeof port.type !== "string") problems.push(`${file}: ${kind}.${name}.type must be a string`);
    }
  }
  if (typeof doc.command === "string") {
    for (const p of commandPlaceholders(doc.command)) {
      const ports = p.port === "inputs" ? inputs : outputs;
      if (!(p.name in ports)) problems.push(`${file}: command uses \${{${p.port}.${p.name}}} but ${p.port} has no ${p.name}`);
    }
  }
  const codeDir = typeof doc.code === "string" ? path.resolve(path.dirname(file), doc.code) : "";
  if (codeDir && !fs.existsSync(codeDir)) problems.push(`${file}: code folder ${codeDir} does not exist`);
  if (problems.length > before) return undefined;
  const spec = { ...doc, inputs, outputs } as unknown as CommandComponentSpec;
  return { file, codeDir, spec };
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
    if (!isMapping(raw) || raw.type !== "command" || typeof raw.component !== "string") {
      problems.push(`${where}: must be {type: command, component: <path to component YAML>}`);
      continue;
    }
    const componentPath = raw.component.replace(/^file:/, "");
    if (componentPath.startsWith("azureml:")) {
      problems.push(`${where}: component must be a local YAML path so the stack can register it (got ${raw.component})`);
      continue;
    }
    const component = readCommandComponent(path.resolve(path.dirname(abs), componentPath), problems);
    if (!component) continue;
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
    steps.push({ name, component, inputs: stepInputs, outputs: stepOutputs });
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
