/**
 * A pipeline step's component (command or parallel): its code folder uploaded and registered as a code version,
 * then the component version. The Pulumi type says which kind it is (CommandComponent, ParallelComponent).
 */
import * as pulumi from "@pulumi/pulumi";
import type { WorkspaceRef } from "../lib/naming";
import { LISTED, WorkspaceAssetVersion } from "./assetVersion";
import { FolderUpload, folderUploadFor } from "./folderUploadResource";
import type { ComponentPlan } from "./plan";

export interface StepComponentArgs {
  readonly workspace: WorkspaceRef;
  readonly datastoreName: string;
  readonly component: ComponentPlan;
  /** The environment version the spec names; registered first. */
  readonly environment: pulumi.Resource;
  /** Leave the versions in the workspace on destroy (infra/assetVersion.ts). */
  readonly retainOnDestroy: boolean;
}

export class StepComponent extends pulumi.ComponentResource {
  readonly upload: FolderUpload;
  readonly code: WorkspaceAssetVersion;
  readonly version: WorkspaceAssetVersion;
  readonly id: string;

  constructor(name: string, args: StepComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super(args.component.kind === "parallel" ? "heartscoring:infra:ParallelComponent" : "heartscoring:infra:CommandComponent", name, {}, opts);
    const c = args.component;
    const ws = args.workspace;
    this.id = c.id;
    this.upload = folderUploadFor(c.code.upload, ws, args.datastoreName, { parent: this });
    this.code = new WorkspaceAssetVersion(
      `${c.code.name}-${c.code.version}`,
      {
        ...ws,
        assetKind: "codes",
        name: c.code.name,
        version: c.code.version,
        // The blob URL of the uploaded folder, as the SDK registers code; known once the upload has run.
        properties: { codeUri: this.upload.folderUrl, ...LISTED },
        retainOnDestroy: args.retainOnDestroy,
      },
      { parent: this },
    );
    this.version = new WorkspaceAssetVersion(
      `${c.name}-${c.version}`,
      {
        ...ws,
        assetKind: "components",
        name: c.name,
        version: c.version,
        properties: { componentSpec: c.spec, ...(c.description ? { description: c.description } : {}), ...LISTED },
        retainOnDestroy: args.retainOnDestroy,
      },
      { parent: this, dependsOn: [this.code, args.environment] },
    );
    this.registerOutputs({ id: this.id, version: c.version, codeVersion: c.code.version });
  }
}
