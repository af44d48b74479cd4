/** A batch deployment of a pipeline component version on the endpoint, its steps on the cluster. */
import * as pulumi from "@pulumi/pulumi";
import * as ml from "@pulumi/azure-native/machinelearningservices";
import type { WorkspaceRef } from "../lib/naming";

export interface PipelineDeploymentArgs {
  readonly workspace: WorkspaceRef;
  readonly location: string;
  readonly endpointName: string;
  readonly deploymentName: string;
  /** ARM id of the registered pipeline component version. */
  readonly pipelineComponentId: string;
  /** Compute name the steps run on (settings.default_compute): without it steps get no compute (sdk-for-python #41952). */
  readonly computeName: string;
  readonly description?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** The endpoint, the cluster and the pipeline component version. */
  readonly dependsOn: readonly pulumi.Resource[];
}

export class PipelineDeployment extends pulumi.ComponentResource {
  readonly deployment: ml.BatchDeployment;
  readonly deploymentName: string;

  constructor(name: string, args: PipelineDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:PipelineDeployment", name, {}, opts);
    this.deploymentName = args.deploymentName;
    this.deployment = new ml.BatchDeployment(
      args.deploymentName,
      {
        deploymentName: args.deploymentName,
        endpointName: args.endpointName,
        resourceGroupName: args.workspace.resourceGroupName,
        workspaceName: args.workspace.workspaceName,
        location: args.location,
        // Shape of azure-ai-ml's PipelineComponentBatchDeployment._to_rest_object: description and
        // deploymentConfiguration only. azure-native adds the model-deployment defaults on top (errorThreshold -1,
        // loggingLevel Info, maxConcurrencyPerInstance 1, miniBatchSize 10, outputAction AppendRow, outputFileName
        // predictions.csv: batchDeploymentPropertiesArgsProvideDefaults); they are the spec's own defaults.
        // [unconfirmed: that the service ignores them for a PipelineComponent deployment rather than refusing them]
        properties: {
          ...(args.description ? { description: args.description } : {}),
          deploymentConfiguration: {
            deploymentConfigurationType: "PipelineComponent",
            componentId: { referenceType: "Id", assetId: args.pipelineComponentId },
            // Settings are strings on the wire (BatchPipelineComponentDeploymentConfiguration.settings: map of
            // string); default_compute is the compute's name, as azure-ai-ml passes it through unresolved.
            settings: { default_compute: args.computeName, continue_on_step_failure: "false" },
          },
        },
        ...(args.tags && Object.keys(args.tags).length > 0 ? { tags: { ...args.tags } } : {}),
      },
      { parent: this, dependsOn: [...args.dependsOn] },
    );
    this.registerOutputs({ deploymentName: this.deploymentName, pipelineComponentId: args.pipelineComponentId });
  }
}
