/**
 * Turns the CLI v2 YAML (as loaded by lib/componentYaml.ts) into the `componentSpec` JSON Azure ML's
 * component version PUT takes, with every `azureml:<name>@latest` reference pinned to the ARM id of the
 * version the stack registers. Pure: plain data in, plain data out; no Azure, no files.
 *
 * Shapes (../shared/azure-ml-notes.md "Component version" and "Confirmed from recorded service traffic"):
 *  - command component: the YAML's snake_case keys, `$schema` included; `code` and `environment` as
 *    `azureml:<ARM id>` (what azure-ai-ml's schema dump sends, entities/_component/component.py `_to_rest_object`,
 *    and what the service returns in componentSpec);
 *  - pipeline component: `jobs.<step>` = { name, type: "command", componentId: <ARM id>, inputs, outputs },
 *    a binding input as { job_input_type: "literal", value: "${{parent...}}" }, a model input as
 *    { job_input_type: <model type>, uri: <model version ARM id> }, an output routed to the pipeline
 *    as { type: "literal", value: "${{parent.outputs.X}}" }.
 *    As azure-ai-ml builds them (Azure/azure-sdk-for-python sdk/ml/azure-ai-ml: entities/_builders/base_node.py
 *    `_get_component_id`, entities/_job/pipeline/_io/mixin.py `_to_rest_inputs`/`_to_rest_outputs`,
 *    operations/_job_operations.py `_resolve_job_input` → _operation_orchestrator.py `get_asset_arm_id`):
 *    snake_case keys, and both componentId and a model input's uri as the plain ARM id (no `azureml:` prefix).
 * The version is derived from the spec itself (every field but `version`), so any change to the YAML or to
 * what it references gives a new version, and nothing else does.
 */
import type { CommandComponent, InputSpec, OutputSpec, PipelineDefinition, StepInput } from "./componentYaml";
import { assetVersion, azuremlRef, canonicalJson, sha256Hex } from "./naming";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type ComponentSpecJson = { [key: string]: Json };

export interface VersionedSpec {
  readonly version: string;
  readonly spec: ComponentSpecJson;
}

export class ComponentSpecError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Cannot build the component specs:\n  - ${problems.join("\n  - ")}`);
    this.name = "ComponentSpecError";
  }
}

/** Drops undefined fields so the JSON (and its hash) holds only what the YAML says. */
function clean<T extends Record<string, unknown>>(obj: T): ComponentSpecJson {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as ComponentSpecJson;
}

function ports(specs: Record<string, InputSpec | OutputSpec>): ComponentSpecJson {
  return Object.fromEntries(Object.entries(specs).map(([name, spec]) => [name, clean({ ...spec } as Record<string, unknown>)]));
}

/** The fields every component spec starts with, in the YAML's own keys (key order matters to nobody: hashes use canonical JSON). */
function header(
  s: { $schema?: string; name: string; display_name?: string; description?: string; inputs: Record<string, InputSpec>; outputs: Record<string, OutputSpec> },
  type: "command" | "pipeline",
): Record<string, unknown> {
  return { $schema: s.$schema, name: s.name, display_name: s.display_name, description: s.description, type, inputs: ports(s.inputs), outputs: ports(s.outputs) };
}

/** Adds `version` (derived from everything else) to a spec. */
export function versioned(spec: ComponentSpecJson): VersionedSpec {
  const { version: _ignored, ...rest } = spec;
  const version = assetVersion(sha256Hex(canonicalJson(rest)));
  return { version, spec: { ...rest, version } };
}

export interface CommandRefs {
  /** ARM id of the registered code version of the component's code folder. */
  readonly codeId: string;
  /** Environment name (as the YAML names it, `azureml:<name>@latest`) → ARM id of the registered version. */
  readonly environmentIds: Readonly<Record<string, string>>;
}

export function commandComponentSpec(component: CommandComponent, refs: CommandRefs): VersionedSpec {
  const s = component.spec;
  const envName = /^azureml:([^@:]+)(?:@latest)?$/.exec(s.environment)?.[1];
  const envId = envName ? refs.environmentIds[envName] : undefined;
  if (!envId) {
    throw new ComponentSpecError([
      `${component.file}: environment ${s.environment} is not one the stack registers ` +
        `(expected azureml:<name>@latest with <name> one of: ${Object.keys(refs.environmentIds).join(", ") || "none"})`,
    ]);
  }
  return versioned(
    clean({
      ...header(s, "command"),
      code: azuremlRef(refs.codeId),
      environment: azuremlRef(envId),
      command: s.command,
    }),
  );
}

export interface PipelineRefs {
  /** Command component name → ARM id of its registered version. */
  readonly componentIds: Readonly<Record<string, string>>;
  /** Model name → ARM id of the model version this pipeline binds. */
  readonly modelIds: Readonly<Record<string, string>>;
}

function stepInput(where: string, input: StepInput, refs: PipelineRefs, problems: string[]): Json {
  switch (input.kind) {
    case "binding":
      return { job_input_type: "literal", value: input.expression };
    case "literal":
      return { job_input_type: "literal", value: String(input.value) };
    case "asset": {
      const id = refs.modelIds[input.asset.name];
      if (!id) {
        problems.push(`${where}: model ${input.asset.name} has no registered version (known: ${Object.keys(refs.modelIds).join(", ") || "none"})`);
        return null;
      }
      // The plain ARM id, as azure-ai-ml resolves `azureml:<name>@latest` for a node input (get_asset_arm_id).
      // No `mode`: the SDK leaves it out unless the YAML sets one, and the service then picks its default.
      // [unconfirmed: no recorded request with a model input node was found; the shape follows azure-ai-ml's code]
      return { job_input_type: input.type, uri: id };
    }
  }
}

export function pipelineComponentSpec(pipeline: PipelineDefinition, refs: PipelineRefs): VersionedSpec {
  const problems: string[] = [];
  const s = pipeline.spec;
  const jobs: ComponentSpecJson = {};
  for (const step of pipeline.steps) {
    const componentId = refs.componentIds[step.component.spec.name];
    if (!componentId) problems.push(`${pipeline.file}: jobs.${step.name}: component ${step.component.spec.name} has no registered version`);
    const inputs: ComponentSpecJson = {};
    for (const [name, input] of Object.entries(step.inputs)) inputs[name] = stepInput(`${pipeline.file}: jobs.${step.name}.inputs.${name}`, input, refs, problems);
    const outputs: ComponentSpecJson = {};
    for (const [name, ref] of Object.entries(step.outputs)) {
      if (ref) outputs[name] = { type: "literal", value: `\${{parent.outputs.${ref.name}}}` };
    }
    // componentId is the plain ARM id (no "azureml:" prefix): what azure-ai-ml sends and the 2023 recording shows.
    jobs[step.name] = { name: step.name, type: "command", componentId: componentId ?? null, inputs, outputs };
  }
  if (problems.length > 0) throw new ComponentSpecError(problems);
  return versioned(
    clean({
      ...header(s, "pipeline"),
      jobs,
    }),
  );
}
