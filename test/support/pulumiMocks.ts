/**
 * Runs a Pulumi program in-process under mocks and records what it declares: every registered resource
 * (type, name, the inputs the engine would receive, and its parent), and the stack outputs.
 * Ids are `${type}::${name}-id`; an invoke (a `call`) throws, so a new Azure lookup cannot slip in unnoticed.
 * Outputs Azure computes are filled in the way the service would: the endpoint's scoringUri, an upload's
 * datastore location (a fixed fake account/container), and an asset version's ARM id.
 */
import * as pulumi from "@pulumi/pulumi";

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, any>;
  /** `${type}::${name}` of the parent; "pulumi:pulumi:Stack" for top-level resources. */
  readonly parent: string;
  readonly custom: boolean;
  /** Resource options the engine acts on: `${type}::${name}` of each explicit dependsOn, and the flags. */
  readonly dependsOn: string[];
  readonly retainOnDelete: boolean;
  readonly ignoreChanges: string[];
}

export interface ProgramRun {
  readonly resources: RecordedResource[];
  readonly outputs: Record<string, any>;
  /** Invokes attempted (each also threw). */
  readonly calls: string[];
}

export const MOCK_ACCOUNT = "mockstorageacct";
export const MOCK_CONTAINER = "azureml-blobstore-00000000-0000-0000-0000-000000000000";

export function key(type: string, name: string): string {
  return `${type}::${name}`;
}

function mockState(type: string, inputs: Record<string, any>): Record<string, any> {
  if (type === "azure-native:machinelearningservices:BatchEndpoint") {
    return {
      ...inputs,
      name: inputs.endpointName,
      properties: { ...inputs.properties, scoringUri: `https://${inputs.endpointName}.${inputs.location}.inference.ml.azure.com/jobs` },
    };
  }
  if (type === "pulumi-nodejs:dynamic/heartscoring:FolderUpload") {
    const path = `LocalUpload/${inputs.hash}/${inputs.folderName}`;
    return {
      ...inputs,
      path,
      accountName: MOCK_ACCOUNT,
      containerName: MOCK_CONTAINER,
      folderUrl: `https://${MOCK_ACCOUNT}.blob.core.windows.net/${MOCK_CONTAINER}/${path}`,
    };
  }
  if (type === "pulumi-nodejs:dynamic/heartscoring:WorkspaceAssetVersion") {
    // As the provider reports a version it registered (not adopted).
    const armId =
      `/subscriptions/${inputs.subscriptionId}/resourceGroups/${inputs.resourceGroupName}/providers/Microsoft.MachineLearningServices` +
      `/workspaces/${inputs.workspaceName}/${inputs.assetKind}/${inputs.name}/versions/${inputs.version}`;
    return { ...inputs, armId, created: true };
  }
  return inputs;
}

/**
 * Runs `program` as a Pulumi stack under mocks (dryRun true = `pulumi preview`) and waits for every resource
 * registration to finish.
 */
export async function runProgram(
  program: () => Record<string, unknown> | void,
  opts: { dryRun?: boolean; project?: string; stack?: string } = {},
): Promise<ProgramRun> {
  const registered = new Map<string, { inputs: Record<string, any>; custom: boolean }>();
  const parents = new Map<string, string>();
  type Named = pulumi.Resource & { __pulumiType?: string; __name?: string };
  const options = new Map<string, { dependsOn: string[]; retainOnDelete: boolean; ignoreChanges: string[] }>();
  const resources: pulumi.Resource[] = [];
  const calls: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        registered.set(key(args.type, args.name), { inputs: args.inputs, custom: args.custom ?? true });
        return { id: `${args.type}::${args.name}-id`, state: mockState(args.type, args.inputs) };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        calls.push(args.token);
        throw new Error(`unexpected invoke ${args.token}: the program must not call Azure`);
      },
    },
    opts.project ?? "heart-batch-scoring",
    opts.stack ?? "test",
    opts.dryRun ?? false,
  );
  const outputs = (await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((t) => {
      const parent = t.opts.parent as Named | undefined;
      const deps = (Array.isArray(t.opts.dependsOn) ? t.opts.dependsOn : t.opts.dependsOn ? [t.opts.dependsOn] : []) as Named[];
      options.set(key(t.type, t.name), {
        dependsOn: deps.map((d) => key(d.__pulumiType!, d.__name!)).sort(),
        retainOnDelete: t.opts.retainOnDelete === true,
        ignoreChanges: [...(t.opts.ignoreChanges ?? [])],
      });
      parents.set(key(t.type, t.name), parent && parent.__pulumiType !== "pulumi:pulumi:Stack" ? key(parent.__pulumiType!, parent.__name!) : "pulumi:pulumi:Stack");
      resources.push(t.resource);
      return undefined;
    });
    return program() ?? {};
  })) as Record<string, any>;
  // Every resource's URN resolves once its registration (newResource) has completed.
  await Promise.all(resources.map((r) => new Promise<void>((resolve) => r.urn.apply(() => resolve()))));
  const recorded: RecordedResource[] = [...registered.entries()].filter(([k]) => !k.startsWith("pulumi:pulumi:Stack::")).map(([k, v]) => {
    const [type, ...rest] = k.split("::");
    const o = options.get(k) ?? { dependsOn: [], retainOnDelete: false, ignoreChanges: [] };
    return { type, name: rest.join("::"), inputs: v.inputs, custom: v.custom, parent: parents.get(k) ?? "(unknown)", ...o };
  });
  return { resources: recorded, outputs, calls };
}

export function find(run: ProgramRun, type: string, name?: string): RecordedResource {
  const hits = run.resources.filter((r) => r.type === type && (name === undefined || r.name === name));
  if (hits.length !== 1) {
    throw new Error(`expected one ${type}${name ? ` named ${name}` : ""}, found ${hits.length}: ${run.resources.map((r) => key(r.type, r.name)).join(", ")}`);
  }
  return hits[0];
}

export function findAll(run: ProgramRun, type: string): RecordedResource[] {
  return run.resources.filter((r) => r.type === type);
}

/** Inputs of every resource by `${type}::${name}`, as JSON text (byte comparison across runs). */
export function inputsByResource(run: ProgramRun): Map<string, string> {
  return new Map(run.resources.map((r) => [key(r.type, r.name), JSON.stringify(r.inputs)]));
}

// ---- The stack under test -------------------------------------------------------------------------------

import * as fs from "fs";
import * as os from "os";
import * as nodePath from "path";

export const PROJECT_ROOT = nodePath.resolve(__dirname, "..", "..");
export const TEST_WORKSPACE = {
  subscriptionId: "11111111-2222-3333-4444-555555555555",
  resourceGroupName: "rg-heart-test",
  workspaceName: "mlw-heart-test",
} as const;

/** A complete, valid raw config (as Pulumi holds it), with overrides. */
export function rawConfig(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const base: Record<string, string | undefined> = { ...TEST_WORKSPACE, location: "westeurope", ...overrides };
  return Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

/** A throw-away copy of the project's components/ and models/ (to change files without touching the checkout). */
export function copyProject(): string {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "heart-stack-"));
  for (const sub of ["components", "models"]) fs.cpSync(nodePath.join(PROJECT_ROOT, sub), nodePath.join(dir, sub), { recursive: true });
  return dir;
}

/**
 * Validates `raw` and declares the stack from the files under `projectRoot`, the way index.ts does, and
 * returns the stack's outputs.
 */
export function stackProgram(raw: Record<string, string>, projectRoot: string = PROJECT_ROOT, stack = "test"): () => Record<string, unknown> {
  return () => {
    // Loaded lazily so that mocks are set before any Pulumi resource module runs.
    const { validateConfig } = require("../../infra/config") as typeof import("../../infra/config");
    const { createStack } = require("../../infra/stack") as typeof import("../../infra/stack");
    const { defaultSources } = require("../../infra/plan") as typeof import("../../infra/plan");
    const { loadPipeline, modelReferences } = require("../../lib/componentYaml") as typeof import("../../lib/componentYaml");
    const sources = defaultSources(projectRoot);
    const config = validateConfig(raw, {
      namespace: "heart-batch-scoring",
      modelNames: modelReferences(loadPipeline(sources.pipelineFile)).map((m) => m.name),
      folderExists: (f) => fs.existsSync(nodePath.resolve(projectRoot, f)),
    });
    return { ...createStack(config, stack, sources) };
  };
}

/** Resources (by `${type}::${name}`) a second run adds, removes, or declares with different inputs. */
export interface GraphDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

export function diffGraphs(before: ProgramRun, after: ProgramRun): GraphDiff {
  const a = inputsByResource(before);
  const b = inputsByResource(after);
  return {
    added: [...b.keys()].filter((k) => !a.has(k)).sort(),
    removed: [...a.keys()].filter((k) => !b.has(k)).sort(),
    changed: [...b.keys()].filter((k) => a.has(k) && a.get(k) !== b.get(k)).sort(),
  };
}
