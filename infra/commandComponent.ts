/** A command component: its code folder uploaded and registered as a code version, then the component version. */
import * as pulumi from "@pulumi/pulumi";
import * as ml from "@pulumi/azure-native/machinelearningservices";
import type { WorkspaceRef } from "../lib/naming";
import { FolderUpload } from "./folderUploadResource";
import type { CommandComponentPlan } from "./plan";

export interface CommandComponentArgs {
  readonly workspace: WorkspaceRef;
  readonly datastoreName: string;
  readonly component: CommandComponentPlan;
  /** The environment version the spec names; registered first. */
  readonly environment: pulumi.Resource;
  /** Keep the versions in Azure on destroy (a deleted version cannot be registered again). */
  readonly retainOnDelete: boolean;
}

export class CommandComponent extends pulumi.ComponentResource {
  readonly upload: FolderUpload;
  readonly code: ml.CodeVersion;
  readonly version: ml.ComponentVersion;
  readonly id: string;

  constructor(name: string, args: CommandComponentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:CommandComponent", name, {}, opts);
    const c = args.component;
    const ws = args.workspace;
    this.id = c.id;
    this.upload = new FolderUpload(
      c.code.upload.resourceName,
      { ...ws, datastoreName: args.datastoreName, folderName: c.code.upload.folderName, hash: c.code.upload.hash, source: c.code.upload.source },
      { parent: this },
    );
    this.code = new ml.CodeVersion(
      `${c.code.name}-${c.code.version}`,
      {
        name: c.code.name,
        version: c.code.version,
        resourceGroupName: ws.resourceGroupName,
        workspaceName: ws.workspaceName,
        // The blob URL of the uploaded folder, as the SDK registers code; known once the upload has run.
        properties: { codeUri: this.upload.folderUrl },
      },
      { parent: this, retainOnDelete: args.retainOnDelete },
    );
    this.version = new ml.ComponentVersion(
      `${c.name}-${c.version}`,
      {
        name: c.name,
        version: c.version,
        resourceGroupName: ws.resourceGroupName,
        workspaceName: ws.workspaceName,
        properties: { componentSpec: c.spec, ...(c.description ? { description: c.description } : {}) },
      },
      { parent: this, dependsOn: [this.code, args.environment], retainOnDelete: args.retainOnDelete },
    );
    this.registerOutputs({ id: this.id, version: c.version, codeVersion: c.code.version });
  }
}
