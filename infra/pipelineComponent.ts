/** The pipeline component version, its steps pinned to the registered command component and model versions. */
import * as pulumi from "@pulumi/pulumi";
import type { WorkspaceRef } from "../lib/naming";
import { LISTED, WorkspaceAssetVersion } from "./assetVersion";
import type { PipelinePlan } from "./plan";

export interface PipelineComponentArgs {
  readonly workspace: WorkspaceRef;
  readonly pipeline: PipelinePlan;
  /** The step component and model versions the spec references: the service checks they exist. */
  readonly references: readonly pulumi.Resource[];
  /** Leave the version in the workspace on destroy (infra/assetVersion.ts). */
  readonly retainOnDestroy: boolean;
}

export class PipelineComponent extends pulumi.ComponentResource {
  readonly version: WorkspaceAssetVersion;
  readonly id: string;

  constructor(name: string, args: PipelineComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:PipelineComponent", name, {}, opts);
    const p = args.pipeline;
    this.id = p.id;
    this.version = new WorkspaceAssetVersion(
      p.key,
      {
        ...args.workspace,
        assetKind: "components",
        name: p.name,
        version: p.version,
        properties: { componentSpec: p.spec, ...(p.description ? { description: p.description } : {}), ...LISTED },
        retainOnDestroy: args.retainOnDestroy,
      },
      { parent: this, dependsOn: [...args.references] },
    );
    this.registerOutputs({ id: this.id, version: p.version });
  }
}
