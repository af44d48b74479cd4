/**
 * The stack: config → validated settings → the resources in infra/ → the outputs the scripts read.
 * Config is checked before any resource is declared, and every problem is reported at once.
 */
import * as fs from "fs";
import * as path from "path";
import { loadPipeline, modelReferences } from "./lib/componentYaml";
import { readRawConfig, validateConfig } from "./infra/config";
import { defaultSources } from "./infra/plan";
import { createStack } from "./infra/stack";

const sources = defaultSources(__dirname);
const { raw, namespace, unknownKeys } = readRawConfig();
const config = validateConfig(raw, {
  namespace,
  unknownKeys,
  modelNames: modelReferences(loadPipeline(sources.pipelineFile)).map((m) => m.name),
  folderExists: (folder) => fs.existsSync(path.resolve(sources.projectRoot, folder)),
});
const stack = createStack(config, undefined, sources);

export const subscriptionId = stack.subscriptionId;
export const resourceGroupName = stack.resourceGroupName;
export const workspaceName = stack.workspaceName;
export const location = stack.location;
export const endpointName = stack.endpointName;
export const scoringUri = stack.scoringUri;
export const defaultDeploymentName = stack.defaultDeploymentName;
export const deploymentNames = stack.deploymentNames;
export const datastoreName = stack.datastoreName;
export const computeName = stack.computeName;
export const pipelineComponentId = stack.pipelineComponentId;
export const versions = stack.versions;
export const deployments = stack.deployments;
