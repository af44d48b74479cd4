/** The environment version both command components run in: the image plus the conda file from components/. */
import * as pulumi from "@pulumi/pulumi";
import * as ml from "@pulumi/azure-native/machinelearningservices";
import type { WorkspaceRef } from "../lib/naming";
import type { EnvironmentPlan } from "./plan";

export interface ScoringEnvironmentArgs {
  readonly workspace: WorkspaceRef;
  readonly environment: EnvironmentPlan;
  /** Keep the version in Azure on destroy (a deleted version cannot be registered again). */
  readonly retainOnDelete: boolean;
}

export class ScoringEnvironment extends pulumi.ComponentResource {
  readonly version: ml.EnvironmentVersion;
  readonly id: string;

  constructor(name: string, args: ScoringEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:ScoringEnvironment", name, {}, opts);
    const e = args.environment;
    this.id = e.id;
    this.version = new ml.EnvironmentVersion(
      `${e.name}-${e.version}`,
      {
        name: e.name,
        version: e.version,
        resourceGroupName: args.workspace.resourceGroupName,
        workspaceName: args.workspace.workspaceName,
        properties: {
          image: e.image,
          condaFile: e.condaFile,
          osType: "Linux",
          ...(e.description ? { description: e.description } : {}),
        },
      },
      { parent: this, retainOnDelete: args.retainOnDelete },
    );
    this.registerOutputs({ id: this.id, version: e.version });
  }
}
