/**
 * The Azure target: the operations behind invoke / wait / pull / run / run-pipeline / jobs, on a workspace's
 * batch endpoint, over the shared clients (ARM client, datastore, folder upload, invoke, jobs).
 */
import type { AzureMachineLearningWorkspaces } from "@azure/arm-machinelearning";
import type { TokenCredential } from "@azure/core-auth";
import { createArmClient, WorkspaceRef } from "../../../lib/armClient";
import { BlobDatastore, DEFAULT_DATASTORE, getBlobDatastore } from "../../../lib/datastore";
import { uploadFolder } from "../../../lib/folderUpload";
import { CliError, ExitCode } from "../exitCodes";
import { defaultCredential, toCliError } from "../azure/credential";
import { datastoreUri, fallbackOutputPath, parseStorageUri, scoresPath } from "../azure/datastorePaths";
import { chooseDeployment, getEndpoint } from "../azure/endpoint";
import { invokeIdempotent, newInvocationId, resumeCommand, resumeLine } from "../azure/invoke";
import { blobMarkerStore } from "../azure/invocationMarker";
import { cancelJob, getJob, INVOCATION_PROPERTY, isFinalJobStatus, JobSummary, putJob, runningEndpointJobs } from "../azure/jobs";
import { backoff, envMs, sleep } from "../azure/retry";
import { blobFolderSource } from "../pull/sources";
import type { PullSource } from "../pull/pullFiles";
import type { ResolvedSettings, SettingKey } from "../stackConfig";
import { isRemoteFolderUri, PIPELINE_EXPERIMENT } from "./commands";
import type { JobStatusView } from "./waitLoop";

export interface AzureSession {
  readonly ws: WorkspaceRef;
  readonly credential: TokenCredential;
  readonly arm: AzureMachineLearningWorkspaces;
  readonly settings: Partial<Record<SettingKey, string>>;
  readonly env: NodeJS.ProcessEnv;
  readonly log: (line: string) => void;
}

/** Signs in to the workspace the resolved settings name (commands.openAzure resolves them first). */
export function openSession(
  resolved: ResolvedSettings<"subscriptionId" | "resourceGroupName" | "workspaceName", SettingKey>,
  log: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): AzureSession {
  const settings: Partial<Record<SettingKey, string>> = resolved;
  const ws: WorkspaceRef = { subscriptionId: settings.subscriptionId!, resourceGroupName: settings.resourceGroupName!, workspaceName: settings.workspaceName! };
  const credential = defaultCredential();
  return { ws, credential, arm: createArmClient(credential, ws, { env }), settings, env, log };
}

async function datastore(s: AzureSession, name: string | undefined, signal?: AbortSignal): Promise<BlobDatastore> {
  const ds = name ?? s.settings.datastoreName ?? DEFAULT_DATASTORE;
  try {
    return await getBlobDatastore(s.arm, s.ws, ds, { env: s.env, abortSignal: signal });
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) throw new CliError(ExitCode.Usage, `datastore '${ds}' not found in workspace ${s.ws.workspaceName}`);
    if ((e as Error).name === "DatastoreError") throw new CliError(ExitCode.Usage, (e as Error).message);
    throw toCliError(e, `reading datastore ${ds}`);
  }
}

/** A local folder (already checked by the caller) is uploaded, content-addressed; a URI is used as given. */
export async function inputUri(s: AzureSession, input: string, ds: BlobDatastore, signal?: AbortSignal): Promise<string> {
  if (isRemoteFolderUri(input)) return input;
  try {
    const up = await uploadFolder(input, { blobServiceUrl: ds.blobServiceUrl, containerName: ds.containerName, credential: s.credential }, {
      signal,
      concurrency: Number(s.env.HEART_UPLOAD_CONCURRENCY) || 8,
    });
    s.log(up.uploaded ? `uploaded ${up.files} files (${up.bytes} bytes) to ${ds.name}/${up.path}/` : `input already uploaded: ${ds.name}/${up.path}/`);
    return datastoreUri(ds.name, up.path);
  } catch (e) {
    if ((e as Error).name === "StorageAccessDeniedError") throw new CliError(ExitCode.Auth, (e as Error).message);
    throw toCliError(e, `uploading ${input}`);
  }
}

export interface AzureInvokeArgs {
  readonly input: string;
  readonly scoreMode: string;
  readonly deployment?: string;
  readonly experiment?: string;
  readonly invocationId?: string;
  readonly signal?: AbortSignal;
}

export interface Started {
  readonly jobName: string;
  readonly invocationId: string;
  readonly scoresUri: string;
  readonly reused: boolean;
  readonly deployment?: string;
}

export async function azureInvoke(s: AzureSession, a: AzureInvokeArgs): Promise<Started> {
  const endpoint = await getEndpoint(s.arm, s.ws, s.settings.endpointName!, a.signal);
  const deployment = await chooseDeployment(s.arm, s.ws, endpoint, a.deployment, a.signal);
  const ds = await datastore(s, undefined, a.signal);
  const invocationId = a.invocationId ?? newInvocationId();
  const uri = await inputUri(s, a.input, ds, a.signal);
  const scoresUri = datastoreUri(ds.name, scoresPath(invocationId));
  const r = await invokeIdempotent(
    { inputUri: uri, scoreMode: a.scoreMode, scoresUri, invocationId, experimentName: a.experiment },
    { credential: s.credential, arm: s.arm, ws: s.ws, scoringUri: endpoint.scoringUri, deployment: deployment.explicit ? deployment.name : undefined, signal: a.signal, env: s.env, log: s.log, lookupFirst: a.invocationId !== undefined,
      markers: blobMarkerStore({ blobServiceUrl: ds.blobServiceUrl, containerName: ds.containerName, credential: s.credential, datastoreName: ds.name }) },
  );
  return { jobName: r.jobName, invocationId, scoresUri, reused: r.reused, deployment: deployment.name };
}

export function viewOf(j: JobSummary): JobStatusView {
  return { status: j.status, final: isFinalJobStatus(j.status), error: j.error, studioUrl: j.studioUrl };
}

export async function azureJobView(s: AzureSession, jobName: string, signal?: AbortSignal): Promise<JobStatusView> {
  try {
    return viewOf(await getJob(s.arm, s.ws, jobName, signal));
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) throw new CliError(ExitCode.Usage, `job '${jobName}' not found in workspace ${s.ws.workspaceName}`);
    throw e;
  }
}

export async function azureCancel(s: AzureSession, jobName: string, signal?: AbortSignal): Promise<"requested" | "already-final"> {
  try {
    return await cancelJob(s.arm, s.ws, jobName, signal);
  } catch (e) {
    throw toCliError(e, `canceling job ${jobName}`);
  }
}

/** The job's scores folder: the URI given, else the job's reported output, else azureml/<job>/scores/ in the default datastore. */
export async function azureScoresSource(s: AzureSession, jobName: string, scoresUri: string | undefined, signal?: AbortSignal): Promise<PullSource> {
  let uri = scoresUri;
  if (!uri) {
    let job: JobSummary;
    try {
      job = await getJob(s.arm, s.ws, jobName, signal);
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) throw new CliError(ExitCode.Usage, `job '${jobName}' not found in workspace ${s.ws.workspaceName}`);
      throw toCliError(e, `reading job ${jobName}`);
    }
    if (job.status !== "Completed") throw new CliError(ExitCode.JobFailed, `job ${jobName} is ${job.status}, not Completed: there are no scores to pull`);
    uri = job.outputs.scores?.uri ?? undefined;
  }
  let loc = uri ? parseStorageUri(uri) : undefined;
  if (uri && !loc) throw new CliError(ExitCode.Usage, `cannot read scores from '${uri}': expected azureml://datastores/<name>/paths/<path> or https://<account>.blob…/<container>/<path>`);
  if (!loc) {
    const ds = await datastore(s, undefined, signal);
    loc = { kind: "datastore", datastore: ds.name, path: fallbackOutputPath(jobName, "scores") };
  }
  if (loc.kind === "datastore") {
    const ds = await datastore(s, loc.datastore, signal);
    return blobFolderSource({ blobServiceUrl: ds.blobServiceUrl, containerName: ds.containerName, prefix: loc.path, credential: s.credential });
  }
  return blobFolderSource({ blobServiceUrl: loc.blobServiceUrl, containerName: loc.containerName, prefix: loc.path, credential: s.credential });
}

export function armId(ws: WorkspaceRef, kind: "computes" | "datastores", name: string): string {
  return `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroupName}/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspaceName}/${kind}/${name}`;
}

/**
 * The standalone pipeline job body for run-pipeline (ARM jobs PUT, jobType Pipeline). settings.default_compute /
 * default_datastore as ARM ids and componentId as the plain ARM id, as azure-ai-ml resolves them before submitting
 * (operations/_job_operations.py `_resolve_arm_id_for_pipeline_job` → get_asset_arm_id); inputs/outputs with
 * camelCase keys and snake values (`jobInputType: "literal"`, `jobOutputType: "uri_file"` in the 2025-12-01
 * spec example Job/PipelineJob/get.json).
 */
export function pipelineJobBody(a: {
  ws: WorkspaceRef;
  componentId: string;
  computeName: string;
  datastoreName: string;
  inputUri: string;
  scoreMode: string;
  scoresUri: string;
  invocationId: string;
  experiment?: string;
}): Record<string, unknown> {
  return {
    properties: {
      jobType: "Pipeline",
      experimentName: a.experiment ?? PIPELINE_EXPERIMENT,
      displayName: `uci-heart-score ${a.invocationId.slice(0, 8)}`,
      componentId: a.componentId,
      settings: { default_compute: armId(a.ws, "computes", a.computeName), default_datastore: armId(a.ws, "datastores", a.datastoreName) },
      inputs: {
        input_data: { jobInputType: "uri_folder", uri: a.inputUri },
        score_mode: { jobInputType: "literal", value: a.scoreMode },
      },
      outputs: { scores: { jobOutputType: "uri_folder", uri: a.scoresUri } },
      properties: { [INVOCATION_PROPERTY]: a.invocationId },
    },
  };
}

/**
 * Submits the registered pipeline component as a standalone job. The job is named for the invocation
 * (heart-<id>), and a PUT under a name is idempotent, so after an ambiguous failure a GET tells whether it exists.
 */
export async function azureSubmitPipeline(s: AzureSession, a: { input: string; scoreMode: string; experiment?: string; invocationId?: string; signal?: AbortSignal }): Promise<Started> {
  const ds = await datastore(s, undefined, a.signal);
  const invocationId = a.invocationId ?? newInvocationId();
  const scoresUri = datastoreUri(ds.name, scoresPath(invocationId));
  const jobName = `heart-${invocationId}`;
  if (a.invocationId !== undefined) {
    // A re-run with the id of an earlier submission picks up its job rather than PUTting over it.
    try {
      await getJob(s.arm, s.ws, jobName, a.signal);
      return { jobName, invocationId, scoresUri, reused: true };
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw toCliError(e, `looking for job ${jobName}`);
    }
  }
  const uri = await inputUri(s, a.input, ds, a.signal);
  const body = pipelineJobBody({
    ws: s.ws,
    componentId: s.settings.pipelineComponentId!,
    computeName: s.settings.computeName!,
    datastoreName: ds.name,
    inputUri: uri,
    scoreMode: a.scoreMode,
    scoresUri,
    invocationId,
    experiment: a.experiment,
  });
  s.log(resumeLine(invocationId, resumeCommand(invocationId)));
  const attempts = Math.max(1, envMs(s.env, "HEART_INVOKE_ATTEMPTS", 6));
  for (let i = 1; ; i++) {
    try {
      await putJob(s.arm, s.ws, jobName, body, a.signal);
      return { jobName, invocationId, scoresUri, reused: false };
    } catch (e) {
      const err = toCliError(e, "submitting the pipeline job");
      if (err.exitCode !== ExitCode.Unavailable || i >= attempts) throw err;
      try {
        await getJob(s.arm, s.ws, jobName, a.signal);
        return { jobName, invocationId, scoresUri, reused: true };
      } catch (g) {
        if ((g as { statusCode?: number }).statusCode !== 404) s.log(`could not check for job ${jobName}: ${(g as Error).message}`);
      }
      await sleep(backoff(i - 1, envMs(s.env, "HEART_RETRY_BASE_MS", 2000), envMs(s.env, "HEART_RETRY_MAX_MS", 60_000)), a.signal);
    }
  }
}

export async function azureRunningJobs(s: AzureSession, signal?: AbortSignal): Promise<JobSummary[]> {
  try {
    return await runningEndpointJobs(s.arm, s.ws, s.settings.endpointName!, signal);
  } catch (e) {
    throw toCliError(e, `listing jobs of endpoint ${s.settings.endpointName}`);
  }
}
