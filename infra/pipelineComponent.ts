/** The pipeline component version, its steps pinned to the registered command component and model versions. */
import * as pulumi from "@pulumi/pulumi";
import * as ml from "@pulumi/azure-native/machinelearningservices";
import type { WorkspaceRef } from "../lib/naming";
import type { PipelinePlan } from "./plan";

export interface PipelineComponentArgs {
  readonly workspace: WorkspaceRef;
  readonly pipeline: PipelinePlan;
  /** The command component and model versions the spec references: the service checks they exist. */
  readonly references: readonly pulumi.Resource[];
  /** Keep the version in Azure on destroy (a deleted version cannot be registered again). */
  readonly retainOnDelete: boolean;
}

export class PipelineComponent extends pulumi.ComponentResource {
  readonly version: ml.ComponentVersion;
  readonly id: string;

  constructor(name: string, args: PipelineComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:PipelineComponent", name, {}, opts);
    const p = args.pipeline;
    this.id = p.id;
    this.version = new ml.ComponentVersion(
      p.key,
      {
        name: p.name,
        version: p.version,
        resourceGroupName: args.workspace.resourceGroupName,
        workspaceName: args.workspace.workspaceName,
        properties: { componentSpec: p.spec, ...(p.description ? { description: p.description } : {}) },
      },
      { parent: this, dependsOn: [...args.references], retainOnDelete: args.retainOnDelete },
    );
    this.registerOutputs({ id: this.id, version: p.version });
  }
}
