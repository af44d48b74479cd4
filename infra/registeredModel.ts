/** A model folder uploaded to the datastore and registered as a model version whose version is its content. */
import * as pulumi from "@pulumi/pulumi";
import * as ml from "@pulumi/azure-native/machinelearningservices";
import type { WorkspaceRef } from "../lib/naming";
import { FolderUpload } from "./folderUploadResource";
import type { ModelPlan } from "./plan";

export interface RegisteredModelArgs {
  readonly workspace: WorkspaceRef;
  readonly datastoreName: string;
  readonly model: ModelPlan;
  /** Keep the version in Azure on destroy (a deleted version cannot be registered again). */
  readonly retainOnDelete: boolean;
}

export class RegisteredModel extends pulumi.ComponentResource {
  readonly upload: FolderUpload;
  readonly version: ml.ModelVersion;
  readonly id: string;

  constructor(name: string, args: RegisteredModelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:RegisteredModel", name, {}, opts);
    const m = args.model;
    this.id = m.id;
    this.upload = new FolderUpload(
      m.upload.resourceName,
      { ...args.workspace, datastoreName: args.datastoreName, folderName: m.upload.folderName, hash: m.upload.hash, source: m.upload.source },
      { parent: this },
    );
    this.version = new ml.ModelVersion(
      m.key,
      {
        name: m.name,
        version: m.version,
        resourceGroupName: args.workspace.resourceGroupName,
        workspaceName: args.workspace.workspaceName,
        // For mlflow_model the service reads MLmodel in the folder and fills in the flavors itself.
        properties: { modelType: m.modelType, modelUri: m.uri },
      },
      { parent: this, dependsOn: [this.upload], retainOnDelete: args.retainOnDelete },
    );
    this.registerOutputs({ id: this.id, version: m.version, uri: m.uri });
  }
}
