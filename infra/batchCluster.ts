/** The AmlCompute cluster the pipeline's steps run on (the deployment's default_compute). */
import * as pulumi from "@pulumi/pulumi";
import * as ml from "@pulumi/azure-native/machinelearningservices";
import type { WorkspaceRef } from "../lib/naming";
import type { VmPriority } from "./config";

export interface BatchClusterArgs {
  readonly workspace: WorkspaceRef;
  readonly location: string;
  readonly computeName: string;
  readonly vmSize: string;
  /** 0 lets the cluster scale to nothing when idle: no cost between jobs. */
  readonly minNodeCount: number;
  readonly maxNodeCount: number;
  /** @default left out: Azure's default idle time before scale-down applies. */
  readonly idleSeconds?: number;
  /** @default left out: Azure's default, Dedicated. */
  readonly vmPriority?: VmPriority;
  readonly tags?: Readonly<Record<string, string>>;
}

export function validateBatchClusterArgs(args: BatchClusterArgs): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(args.minNodeCount) || args.minNodeCount < 0) problems.push(`minNodeCount must be a whole number >= 0 (got ${args.minNodeCount})`);
  if (!Number.isInteger(args.maxNodeCount) || args.maxNodeCount < 1) problems.push(`maxNodeCount must be a whole number >= 1 (got ${args.maxNodeCount})`);
  if (args.maxNodeCount < args.minNodeCount) problems.push(`maxNodeCount (${args.maxNodeCount}) must be >= minNodeCount (${args.minNodeCount})`);
  if (args.idleSeconds !== undefined && (!Number.isInteger(args.idleSeconds) || args.idleSeconds <= 0)) problems.push(`idleSeconds must be a whole number > 0 (got ${args.idleSeconds})`);
  return problems;
}

export class BatchCluster extends pulumi.ComponentResource {
  readonly compute: ml.Compute;
  readonly computeName: string;

  constructor(name: string, args: BatchClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("heartscoring:infra:BatchCluster", name, {}, opts);
    const problems = validateBatchClusterArgs(args);
    if (problems.length > 0) throw new Error(`BatchCluster ${name}: ${problems.join("; ")}`);
    this.computeName = args.computeName;
    this.compute = new ml.Compute(
      args.computeName,
      {
        computeName: args.computeName,
        resourceGroupName: args.workspace.resourceGroupName,
        workspaceName: args.workspace.workspaceName,
        location: args.location,
        // The steps read the registered models and data with the cluster's own identity.
        identity: { type: "SystemAssigned" },
        properties: {
          computeType: "AmlCompute",
          properties: {
            vmSize: args.vmSize,
            ...(args.vmPriority ? { vmPriority: args.vmPriority } : {}),
            scaleSettings: {
              minNodeCount: args.minNodeCount,
              maxNodeCount: args.maxNodeCount,
              ...(args.idleSeconds !== undefined ? { nodeIdleTimeBeforeScaleDown: `PT${args.idleSeconds}S` } : {}),
            },
          },
        },
        ...(args.tags && Object.keys(args.tags).length > 0 ? { tags: { ...args.tags } } : {}),
      },
      { parent: this },
    );
    this.registerOutputs({ computeName: this.computeName, computeId: this.compute.id });
  }
}
