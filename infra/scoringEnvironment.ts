/** The environment version both command components run in: the image plus the conda file from components/. */
import * as pulumi from "@pulumi/pulumi";
import type { WorkspaceRef } from "../lib/naming";
import { LISTED, WorkspaceAssetVersion } from "./assetVersion";
import type { EnvironmentPlan } from "./plan";

export interface ScoringEnvironmentArgs {
  readonly workspace: WorkspaceRef;
  readonly environment: EnvironmentPlan;
  /** Leave the version in the workspace on destroy (infra/assetVersion.ts). */
  readonly retainOnDestroy: boolean;
}

export class ScoringEnvironment extends pulumi.ComponentResource {
  readonly version: WorkspaceAssetVersion;
  readonly id: string;

  constructor(name: string, args: ScoringEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:ScoringEnvironment", name, {}, opts);
    const e = args.environment;
    this.id = e.id;
    this.version = new WorkspaceAssetVersion(
      `${e.name}-${e.version}`,
      {
        ...args.workspace,
        assetKind: "environments",
        name: e.name,
        version: e.version,
        properties: {
          image: e.image,
          condaFile: e.condaFile,
          osType: "Linux",
          // The image is used as is: no rebuild when the base image moves (a new version is a new content hash).
          autoRebuild: "Disabled",
          ...(e.description ? { description: e.description } : {}),
          ...LISTED,
        },
        retainOnDestroy: args.retainOnDestroy,
      },
      { parent: this },
    );
    this.registerOutputs({ id: this.id, version: e.version });
  }
}
