/**
 * Everything the stack declares, worked out as plain data before any resource exists: content hashes of the
 * folders, versions, ARM ids, component specs with pinned references, endpoint name. Reads the repository's
 * files and nothing else, so the same checkout and config give the same plan, byte for byte, and the
 * resources in infra/ only copy values from it.
 */
import * as path from "path";
import { hashFolder } from "../lib/contentHash";
import { EnvironmentDefinition, loadEnvironment, loadPipeline, modelReferences, ParallelSettings, PipelineDefinition, StepComponent } from "../lib/componentYaml";
import { componentSpec, ComponentSpecJson, pipelineComponentSpec } from "../lib/componentSpec";
import { contentPath } from "../lib/folderUpload";
import { assetVersion, assetVersionId, canonicalJson, datastoreUri, endpointName, modelVersion, sha256Hex, WorkspaceRef } from "../lib/naming";
import type { ComputeConfig, ParallelConfig, StackConfig } from "./config";

export interface Sources {
  /** The project directory: model folders in config and upload sources are relative to it. */
  readonly projectRoot: string;
  readonly pipelineFile: string;
  readonly environmentFile: string;
}

export function defaultSources(projectRoot: string = path.resolve(__dirname, "..")): Sources {
  return {
    projectRoot,
    pipelineFile: path.join(projectRoot, "components", "pipeline.yml"),
    environmentFile: path.join(projectRoot, "components", "environment", "environment.yml"),
  };
}

export interface UploadPlan {
  /** Pulumi name of the upload resource. */
  readonly resourceName: string;
  readonly folderName: string;
  readonly hash: string;
  /** Relative to the project root, POSIX separators (absolute if the folder lies outside it). */
  readonly source: string;
  /** LocalUpload/<hash>/<folderName> */
  readonly path: string;
}

export interface ModelPlan {
  /** `<name>-<version>`: the Pulumi name; one per distinct content. */
  readonly key: string;
  readonly name: string;
  readonly modelType: string;
  readonly version: string;
  readonly id: string;
  readonly uri: string;
  readonly upload: UploadPlan;
}

export interface EnvironmentPlan {
  readonly name: string;
  readonly version: string;
  readonly id: string;
  readonly image: string;
  readonly condaFile: string;
  readonly description?: string;
}

/** A pipeline step's component (command or parallel): its code version and its component version. */
export interface ComponentPlan {
  readonly kind: "command" | "parallel";
  readonly name: string;
  readonly version: string;
  readonly id: string;
  readonly spec: ComponentSpecJson;
  readonly description?: string;
  readonly code: { readonly name: string; readonly version: string; readonly id: string; readonly upload: UploadPlan };
}

export interface PipelinePlan {
  /** `<name>-<version>`: the Pulumi name; one per distinct resolved spec. */
  readonly key: string;
  readonly name: string;
  readonly version: string;
  readonly id: string;
  readonly spec: ComponentSpecJson;
  readonly description?: string;
  /** Keys of the ModelPlans it binds. */
  readonly modelKeys: readonly string[];
}

export interface DeploymentPlan {
  readonly name: string;
  readonly isDefault: boolean;
  readonly pipelineKey: string;
  readonly pipelineComponentId: string;
  /** Model name → version this deployment scores with. */
  readonly modelVersions: Readonly<Record<string, string>>;
}

export interface StackPlan {
  readonly stack: string;
  readonly workspace: WorkspaceRef;
  readonly location: string;
  readonly datastoreName: string;
  readonly compute: ComputeConfig;
  readonly endpointName: string;
  readonly retainAssetsOnDestroy: boolean;
  readonly tags: Readonly<Record<string, string>>;
  readonly environment: EnvironmentPlan;
  /** The steps' components, in pipeline step order. */
  readonly components: readonly ComponentPlan[];
  /** What the stack sets on every parallel node (config over the component YAML). */
  readonly parallel: ParallelSettings;
  readonly models: readonly ModelPlan[];
  readonly pipelines: readonly PipelinePlan[];
  /** The default deployment first, then the others in config order. */
  readonly deployments: readonly DeploymentPlan[];
}

function toPosix(p: string): string {
  return p.split(path.sep).join("/");
}

function sourceOf(projectRoot: string, dir: string): string {
  const rel = path.relative(projectRoot, dir);
  return rel.startsWith("..") || path.isAbsolute(rel) ? toPosix(dir) : toPosix(rel);
}

export function planUpload(projectRoot: string, dir: string, resourcePrefix: string): UploadPlan {
  const abs = path.resolve(projectRoot, dir);
  const { hash } = hashFolder(abs);
  const folderName = path.basename(abs);
  return { resourceName: `${resourcePrefix}-${hash.slice(0, 12)}`, folderName, hash, source: sourceOf(projectRoot, abs), path: contentPath(hash, folderName) };
}

export function planEnvironment(ws: WorkspaceRef, env: EnvironmentDefinition): EnvironmentPlan {
  const version = assetVersion(sha256Hex(canonicalJson({ image: env.image, condaFile: env.condaText, osType: "Linux" })));
  return {
    name: env.name,
    version,
    id: assetVersionId(ws, "environments", env.name, version),
    image: env.image,
    condaFile: env.condaText,
    ...(env.description ? { description: env.description } : {}),
  };
}

export function planComponent(ws: WorkspaceRef, projectRoot: string, component: StepComponent, environment: EnvironmentPlan): ComponentPlan {
  const name = component.spec.name;
  const upload = planUpload(projectRoot, component.codeDir, `${name}-code`);
  const codeName = `${name}-code`;
  const codeVersion = assetVersion(upload.hash);
  const codeId = assetVersionId(ws, "codes", codeName, codeVersion);
  const { version, spec } = componentSpec(component, { codeId, environmentIds: { [environment.name]: environment.id } });
  return {
    kind: component.kind,
    name,
    version,
    id: assetVersionId(ws, "components", name, version),
    spec,
    ...(component.spec.description ? { description: component.spec.description } : {}),
    code: { name: codeName, version: codeVersion, id: codeId, upload },
  };
}

export function planModel(ws: WorkspaceRef, datastoreName: string, projectRoot: string, name: string, modelType: string, folder: string): ModelPlan {
  const upload = planUpload(projectRoot, folder, name);
  const version = modelVersion(upload.hash);
  return {
    key: `${name}-${version}`,
    name,
    modelType,
    version,
    id: assetVersionId(ws, "models", name, version),
    uri: datastoreUri(ws, datastoreName, upload.path),
    upload,
  };
}

/** Stack config → the node settings in the YAML's own shape; fields left out keep the component's values. */
export function parallelSettings(p: ParallelConfig): ParallelSettings {
  const retry = {
    ...(p.maxRetries !== undefined ? { max_retries: p.maxRetries } : {}),
    ...(p.miniBatchTimeoutSeconds !== undefined ? { timeout: p.miniBatchTimeoutSeconds } : {}),
  };
  return {
    resources: { instance_count: p.instanceCount },
    max_concurrency_per_instance: p.maxConcurrencyPerInstance,
    ...(p.miniBatchSize !== undefined ? { mini_batch_size: String(p.miniBatchSize) } : {}),
    ...(p.miniBatchErrorThreshold !== undefined ? { mini_batch_error_threshold: p.miniBatchErrorThreshold } : {}),
    ...(Object.keys(retry).length > 0 ? { retry_settings: retry } : {}),
  };
}

export function planStack(config: StackConfig, stack: string, sources: Sources): StackPlan {
  const ws = config.workspace;
  const pipeline: PipelineDefinition = loadPipeline(sources.pipelineFile);
  const environment = planEnvironment(ws, loadEnvironment(sources.environmentFile));
  const components = pipeline.steps.map((s) => s.component).filter((c, i, all) => all.findIndex((o) => o.spec.name === c.spec.name) === i)
    .map((c) => planComponent(ws, sources.projectRoot, c, environment));
  const componentIds = Object.fromEntries(components.map((c) => [c.name, c.id]));
  const parallel = parallelSettings(config.parallel);
  const refs = modelReferences(pipeline);

  const models = new Map<string, ModelPlan>();
  const pipelines = new Map<string, PipelinePlan>();
  const ordered = [...config.deployments.filter((d) => d.isDefault), ...config.deployments.filter((d) => !d.isDefault)];
  const deployments: DeploymentPlan[] = ordered.map((d) => {
    const bound = refs.map((r) => planModel(ws, config.datastoreName, sources.projectRoot, r.name, r.type, d.models[r.name] ?? `models/${r.name}`));
    for (const m of bound) if (!models.has(m.key)) models.set(m.key, m);
    const { version, spec } = pipelineComponentSpec(pipeline, { componentIds, modelIds: Object.fromEntries(bound.map((m) => [m.name, m.id])), parallel });
    const key = `${pipeline.spec.name}-${version}`;
    const id = assetVersionId(ws, "components", pipeline.spec.name, version);
    if (!pipelines.has(key)) {
      pipelines.set(key, {
        key,
        name: pipeline.spec.name,
        version,
        id,
        spec,
        ...(pipeline.spec.description ? { description: pipeline.spec.description } : {}),
        modelKeys: bound.map((m) => m.key),
      });
    }
    return { name: d.name, isDefault: d.isDefault, pipelineKey: key, pipelineComponentId: id, modelVersions: Object.fromEntries(bound.map((m) => [m.name, m.version])) };
  });

  return {
    stack,
    workspace: ws,
    location: config.location,
    datastoreName: config.datastoreName,
    compute: config.compute,
    endpointName: endpointName(config.endpointBaseName, stack, config.location, ws),
    retainAssetsOnDestroy: config.retainAssetsOnDestroy,
    tags: config.tags,
    environment,
    components,
    parallel,
    models: [...models.values()],
    pipelines: [...pipelines.values()],
    deployments,
  };
}
