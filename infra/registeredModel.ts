/** A model folder uploaded to the datastore and registered as a model version whose version is its content. */
import * as pulumi from "@pulumi/pulumi";
import type { WorkspaceRef } from "../lib/naming";
import { LISTED, WorkspaceAssetVersion } from "./assetVersion";
import { FolderUpload, folderUploadFor } from "./folderUploadResource";
import type { ModelPlan } from "./plan";

export interface RegisteredModelArgs {
  readonly workspace: WorkspaceRef;
  readonly datastoreName: string;
  readonly model: ModelPlan;
  /** Leave the version in the workspace on destroy (infra/assetVersion.ts). */
  readonly retainOnDestroy: boolean;
}

export class RegisteredModel extends pulumi.ComponentResource {
  readonly upload: FolderUpload;
  readonly version: WorkspaceAssetVersion;
  readonly id: string;

  constructor(name: string, args: RegisteredModelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:RegisteredModel", name, {}, opts);
    const m = args.model;
    this.id = m.id;
    this.upload = folderUploadFor(m.upload, args.workspace, args.datastoreName, { parent: this });
    this.version = new WorkspaceAssetVersion(
      m.key,
      {
        ...args.workspace,
        assetKind: "models",
        name: m.name,
        version: m.version,
        // For mlflow_model the service reads MLmodel in the folder and fills in the flavors itself.
        properties: { modelType: m.modelType, modelUri: m.uri, ...LISTED },
        retainOnDestroy: args.retainOnDestroy,
      },
      { parent: this, dependsOn: [this.upload] },
    );
    this.registerOutputs({ id: this.id, version: m.version, uri: m.uri });
  }
}
