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
 *  - parallel component (azure-ai-ml _schema/component/parallel_component.py, parallel_task.py,
 *    retry_settings.py; entities/_component/parallel_component.py): the YAML's keys, `task.code` and
 *    `task.environment` as `azureml:<ARM id>` (entities/_builders/parallel.py strips that prefix on the way
 *    back), `mini_batch_size` as a string (the schema's fields.Str dumps the entity's int), `resources:
 *    {instance_count}`, `retry_settings: {max_retries, timeout}`, `max_concurrency_per_instance`,
 *    `mini_batch_error_threshold`, `logging_level`, `input_data: "${{inputs.X}}"`.
 *  - a parallel node in a pipeline (entities/_builders/parallel.py `_to_rest_object`): `type: "parallel"`,
 *    componentId, inputs, outputs, plus the run settings that override the component's: `resources`
 *    (`{instance_count}`), `max_concurrency_per_instance`, `mini_batch_size` (an integer there: the node's
 *    __init__ converts it), `mini_batch_error_threshold`, `retry_settings`, `logging_level`.
 *    [unconfirmed: no recorded request of a pipeline component with parallel nodes; that the service applies these
 *    node settings as overrides of the registered component's, lists a uri_folder input recursively (hidden files
 *    too? the local driver leaves them out) and what it reports for a failed parallel step: README's list]
 * The version is derived from the spec itself (every field but `version`), so any change to the YAML or to
 * what it references gives a new version, and nothing else does.
 */
import { effectiveParallelSettings } from "./componentYaml";
import type { CommandComponent, InputSpec, OutputSpec, ParallelComponent, ParallelSettings, PipelineDefinition, StepComponent, StepInput } from "./componentYaml";
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
  type: "command" | "parallel" | "pipeline",
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

function environmentId(file: string, environment: string, refs: CommandRefs): string {
  const envName = /^azureml:([^@:]+)(?:@latest)?$/.exec(environment)?.[1];
  const envId = envName ? refs.environmentIds[envName] : undefined;
  if (!envId) {
    throw new ComponentSpecError([
      `${file}: environment ${environment} is not one the stack registers ` +
        `(expected azureml:<name>@latest with <name> one of: ${Object.keys(refs.environmentIds).join(", ") || "none"})`,
    ]);
  }
  return envId;
}

/** The spec of a pipeline step's component, whichever its type. */
export function componentSpec(component: StepComponent, refs: CommandRefs): VersionedSpec {
  return component.kind === "parallel" ? parallelComponentSpec(component, refs) : commandComponentSpec(component, refs);
}

export function commandComponentSpec(component: CommandComponent, refs: CommandRefs): VersionedSpec {
  const s = component.spec;
  const envId = environmentId(component.file, s.environment, refs);
  return versioned(
    clean({
      ...header(s, "command"),
      code: azuremlRef(refs.codeId),
      environment: azuremlRef(envId),
      command: s.command,
    }),
  );
}

/** Run settings in the snake_case shape the component and node JSON take (mini_batch_size as the YAML's string). */
function settingsJson(s: ParallelSettings, miniBatchSize: (v: string) => Json): Record<string, unknown> {
  return {
    resources: s.resources ? { ...s.resources } : undefined,
    max_concurrency_per_instance: s.max_concurrency_per_instance,
    mini_batch_size: s.mini_batch_size === undefined ? undefined : miniBatchSize(s.mini_batch_size),
    mini_batch_error_threshold: s.mini_batch_error_threshold,
    retry_settings: s.retry_settings ? { ...s.retry_settings } : undefined,
    logging_level: s.logging_level,
  };
}

export function parallelComponentSpec(component: ParallelComponent, refs: CommandRefs): VersionedSpec {
  const s = component.spec;
  const envId = environmentId(component.file, s.task.environment, refs);
  return versioned(
    clean({
      ...header(s, "parallel"),
      input_data: s.input_data,
      ...settingsJson(effectiveParallelSettings(component), (v) => v),
      task: clean({
        type: s.task.type,
        code: azuremlRef(refs.codeId),
        entry_script: s.task.entry_script,
        environment: azuremlRef(envId),
        program_arguments: s.task.program_arguments,
      }),
    }),
  );
}

export interface PipelineRefs {
  /** Command component name → ARM id of its registered version. */
  readonly componentIds: Readonly<Record<string, string>>;
  /** Model name → ARM id of the model version this pipeline binds. */
  readonly modelIds: Readonly<Record<string, string>>;
  /** Run settings the stack sets on every parallel node (over the pipeline YAML's node and the component's). */
  readonly parallel?: ParallelSettings;
}

/** A node's settings: the pipeline YAML's node over the component's, and the stack's over both. */
function nodeSettings(component: ParallelComponent, node: ParallelSettings, stack: ParallelSettings = {}): ParallelSettings {
  const yaml = effectiveParallelSettings(component, node);
  const merged: Record<string, unknown> = { ...yaml };
  for (const [k, v] of Object.entries(stack)) {
    if (v === undefined) continue;
    merged[k] = typeof v === "object" ? { ...(yaml as Record<string, object | undefined>)[k], ...v } : v;
  }
  return merged as ParallelSettings;
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
    const node: ComponentSpecJson = { name: step.name, type: step.component.kind, componentId: componentId ?? null, inputs, outputs };
    if (step.component.kind === "parallel") {
      Object.assign(node, clean(settingsJson(nodeSettings(step.component, step.settings, refs.parallel), (v) => Number(v))));
    }
    jobs[step.name] = node;
  }
  if (problems.length > 0) throw new ComponentSpecError(problems);
  return versioned(
    clean({
      ...header(s, "pipeline"),
      jobs,
    }),
  );
}
