/** The batch endpoint: Entra-token auth, pipeline-component deployments enabled. */
import * as pulumi from "@pulumi/pulumi";
import * as ml from "@pulumi/azure-native/machinelearningservices";
import { canonicalJson, sha256Hex, WorkspaceRef } from "../lib/naming";
import { OWNER_TAG } from "./defaultDeployment";

export interface ScoringEndpointArgs {
  readonly workspace: WorkspaceRef;
  readonly location: string;
  /** The Azure name (lib/naming.ts endpointName: unique per stack and region). */
  readonly endpointName: string;
  readonly description?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

export class ScoringEndpoint extends pulumi.ComponentResource {
  readonly endpoint: ml.BatchEndpoint;
  readonly endpointName: string;
  readonly scoringUri: pulumi.Output<string>;
  /** Changes whenever the endpoint's own inputs change (see infra/defaultDeployment.ts). */
  readonly revision: string;

  constructor(name: string, args: ScoringEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:ScoringEndpoint", name, {}, opts);
    this.endpointName = args.endpointName;
    const endpointArgs = {
      endpointName: args.endpointName,
      resourceGroupName: args.workspace.resourceGroupName,
      workspaceName: args.workspace.workspaceName,
      location: args.location,
      properties: {
        // Entra ID tokens only; no keys to leak or rotate.
        authMode: "AADToken",
        ...(args.description ? { description: args.description } : {}),
        // Lets the endpoint host pipeline-component deployments.
        properties: { "ComponentDeployment.Enabled": "true" },
      },
      ...(args.tags && Object.keys(args.tags).length > 0 ? { tags: { ...args.tags } } : {}),
    };
    this.revision = sha256Hex(canonicalJson(endpointArgs)).slice(0, 16);
    this.endpoint = new ml.BatchEndpoint(args.endpointName, endpointArgs, {
      parent: this,
      // The default deployment (and the tag naming the pointer that set it) are written by DefaultDeployment after
      // the deployment exists; never reset them here.
      ignoreChanges: ["properties.defaults", `tags["${OWNER_TAG}"]`],
    });
    this.scoringUri = this.endpoint.properties.apply((p) => p.scoringUri ?? "");
    this.registerOutputs({ endpointName: this.endpointName, scoringUri: this.scoringUri });
  }
}
