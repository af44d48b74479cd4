/**
 * Composes the stack from a validated config: plan (plain data) → resources → the outputs the scripts read.
 * index.ts calls this once; tests call it under Pulumi mocks, as often as they like.
 */
import * as pulumi from "@pulumi/pulumi";
import * as azure from "@pulumi/azure-native";
import { BatchCluster } from "./batchCluster";
import { StepComponent } from "./commandComponent";
import type { StackConfig } from "./config";
import { DefaultDeployment } from "./defaultDeployment";
import { PipelineComponent } from "./pipelineComponent";
import { PipelineDeployment } from "./pipelineDeployment";
import { defaultSources, planStack, Sources, StackPlan } from "./plan";
import { RegisteredModel } from "./registeredModel";
import { ScoringEndpoint } from "./scoringEndpoint";
import { ScoringEnvironment } from "./scoringEnvironment";

/** The stack outputs. The scripts read these names: keep them. */
export interface StackOutputs {
  readonly subscriptionId: string;
  readonly resourceGroupName: string;
  readonly workspaceName: string;
  readonly location: string;
  readonly endpointName: string;
  readonly scoringUri: pulumi.Output<string>;
  readonly defaultDeploymentName: string;
  readonly deploymentNames: string[];
  readonly datastoreName: string;
  readonly computeName: string;
  /** ARM id of the pipeline component version the default deployment runs. */
  readonly pipelineComponentId: string;
  readonly versions: StackVersions;
  /** Per deployment: the pipeline component version and model versions it runs. */
  readonly deployments: { name: string; isDefault: boolean; pipelineComponentId: string; models: Record<string, string> }[];
}

export interface StackVersions {
  /** Model name → version, as the default deployment binds them. */
  readonly models: Record<string, string>;
  /** Component name (the steps' components and the pipeline) → version (the pipeline's: the default deployment's). */
  readonly components: Record<string, string>;
  /** Environment name → version. */
  readonly environment: Record<string, string>;
  /** Code asset name → version. */
  readonly code: Record<string, string>;
}

export class HeartScoring extends pulumi.ComponentResource {
  readonly outputs: StackOutputs;

  constructor(name: string, plan: StackPlan, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:HeartScoring", name, {}, opts);
    const ws = plan.workspace;
    const retainOnDestroy = plan.retainAssetsOnDestroy;
    const child = { parent: this };

    const cluster = new BatchCluster(
      plan.compute.name,
      {
        workspace: ws,
        location: plan.location,
        computeName: plan.compute.name,
        vmSize: plan.compute.vmSize,
        minNodeCount: plan.compute.minNodes,
        maxNodeCount: plan.compute.maxNodes,
        ...(plan.compute.idleSeconds !== undefined ? { idleSeconds: plan.compute.idleSeconds } : {}),
        ...(plan.compute.vmPriority ? { vmPriority: plan.compute.vmPriority } : {}),
        tags: plan.tags,
      },
      child,
    );

    const environment = new ScoringEnvironment(plan.environment.name, { workspace: ws, environment: plan.environment, retainOnDestroy }, child);

    const components = plan.components.map(
      (c) => new StepComponent(c.name, { workspace: ws, datastoreName: plan.datastoreName, component: c, environment: environment.version, retainOnDestroy }, child),
    );

    const models = new Map(
      plan.models.map((m) => [m.key, new RegisteredModel(m.key, { workspace: ws, datastoreName: plan.datastoreName, model: m, retainOnDestroy }, child)]),
    );

    const pipelines = new Map(
      plan.pipelines.map((p) => [
        p.key,
        new PipelineComponent(
          p.key,
          {
            workspace: ws,
            pipeline: p,
            references: [...components.map((c) => c.version), ...p.modelKeys.map((k) => models.get(k)!.version)],
            retainOnDestroy,
          },
          child,
        ),
      ]),
    );

    const endpoint = new ScoringEndpoint(
      "endpoint",
      { workspace: ws, location: plan.location, endpointName: plan.endpointName, description: "UCI Heart Disease batch scoring with preprocessing", tags: plan.tags },
      child,
    );

    const deployments = plan.deployments.map(
      (d) =>
        new PipelineDeployment(
          d.name,
          {
            workspace: ws,
            location: plan.location,
            endpointName: plan.endpointName,
            deploymentName: d.name,
            pipelineComponentId: d.pipelineComponentId,
            computeName: plan.compute.name,
            tags: plan.tags,
            dependsOn: [endpoint.endpoint, cluster.compute, pipelines.get(d.pipelineKey)!.version],
          },
          child,
        ),
    );

    const defaultPlan = plan.deployments.find((d) => d.isDefault)!;
    const defaultDeployment = deployments[plan.deployments.indexOf(defaultPlan)];
    new DefaultDeployment(
      "default-deployment",
      { ...ws, endpointName: plan.endpointName, deploymentName: defaultPlan.name, endpointRevision: endpoint.revision },
      // Depends on the deployment, so destroy releases the pointer before deleting the deployment.
      { parent: endpoint, dependsOn: [endpoint.endpoint, defaultDeployment.deployment] },
    );

    this.outputs = {
      subscriptionId: ws.subscriptionId,
      resourceGroupName: ws.resourceGroupName,
      workspaceName: ws.workspaceName,
      location: plan.location,
      endpointName: plan.endpointName,
      scoringUri: endpoint.scoringUri,
      defaultDeploymentName: defaultPlan.name,
      deploymentNames: plan.deployments.map((d) => d.name),
      datastoreName: plan.datastoreName,
      computeName: plan.compute.name,
      pipelineComponentId: defaultPlan.pipelineComponentId,
      versions: versionsOf(plan),
      deployments: plan.deployments.map((d) => ({ name: d.name, isDefault: d.isDefault, pipelineComponentId: d.pipelineComponentId, models: { ...d.modelVersions } })),
    };
    this.registerOutputs({ ...this.outputs });
  }
}

export function versionsOf(plan: StackPlan): StackVersions {
  const defaultPlan = plan.deployments.find((d) => d.isDefault)!;
  const pipeline = plan.pipelines.find((p) => p.key === defaultPlan.pipelineKey)!;
  return {
    models: { ...defaultPlan.modelVersions },
    components: { ...Object.fromEntries(plan.components.map((c) => [c.name, c.version])), [pipeline.name]: pipeline.version },
    environment: { [plan.environment.name]: plan.environment.version },
    code: Object.fromEntries(plan.components.map((c) => [c.code.name, c.code.version])),
  };
}

/**
 * Declares every resource for a validated config. The azure-native provider is explicit so that every
 * resource lands in the configured subscription (its credentials still come from the environment:
 * az login, ARM_* variables or OIDC).
 */
export function createStack(config: StackConfig, stack: string = pulumi.getStack(), sources: Sources = defaultSources()): StackOutputs {
  const plan = planStack(config, stack, sources);
  const provider = new azure.Provider("workspace-subscription", { subscriptionId: config.workspace.subscriptionId, location: config.location });
  return new HeartScoring("heart-scoring", plan, { providers: [provider] }).outputs;
}
