/**
 * A fake Azure ML service for tests only (the real control plane cannot run here): an HTTPS server on
 * 127.0.0.1 answering the documented ARM shapes the scripts use (workspace get, datastores get, batch endpoints
 * get, batch deployments list/get, jobs list (with the 2025-12-01 `properties` filter)/get/createOrUpdate/cancel),
 * the batch endpoint's data plane (POST to the scoring URI), the workspace discovery document and the run-history
 * service's child runs of a job (the shapes azure-ai-ml's _restclient/runhistory reads: PaginatedRunList of Run
 * { runId, displayName, status, error: { error: { code, message } } }), backed by a real Azurite for storage.
 * As on the real service, the ARM job carries no error: a failed step is only visible among the children.
 *
 * It checks and records what it receives: the bearer token's audience and expiry (401 otherwise), the ARM
 * api-version, the bodies and headers. A job it accepts really runs: the input folder is downloaded from
 * Azurite, the local pipeline (scripts/lib/local/runner.ts) scores it, and the scores are uploaded to the
 * job's requested output path, while the job moves NotStarted → Preparing → Queued → Running → Completed
 * (or Failed / Canceled). Fault knobs: `fault()` rules per route (status + Retry-After, dropped connection,
 * delay, fail-after-handling, hold the request unhandled or handled-but-unanswered until the client goes away),
 * `nextJob` (hold Running, make the score step fail), `cancelJob()` (someone else cancels), `copyInvokeProperties`
 * (whether invoke's custom properties reach the ARM job: unconfirmed on the real service, so both are played),
 * `ageJob()` / `addFinishedJobs()` (a workspace with history: old and many jobs).
 */
import { BlobServiceClient } from "@azure/storage-blob";
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import type { IncomingMessage, ServerResponse } from "http";
import { spawn } from "child_process";
import { startAzurite, Azurite } from "./azurite";
import { makeFakeAzCli, FakeAzCli } from "./fakeAzCli";
import { testTls } from "./tls";
import { decodeJwt } from "./tokens";
import { runLocalPipeline } from "../../scripts/lib/local/runner";

export const FAKE_API_VERSION = "2025-12-01";
export const ARM_AUDIENCE = "https://management.azure.com";
export const ML_AUDIENCE = "https://ml.azure.com";

export type RouteKind =
  | "invoke"
  | "datastore-get"
  | "endpoint-get"
  | "deployments-list"
  | "deployment-get"
  | "job-list"
  | "job-get"
  | "job-put"
  | "job-cancel"
  | "operation"
  | "workspace-get"
  | "discovery"
  | "run-children"
  | "unknown";

export interface RecordedRequest {
  readonly kind: RouteKind;
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
  readonly audience?: string;
  readonly at: number;
}

export type FaultAction =
  | { readonly status: number; readonly retryAfter?: number; readonly body?: unknown }
  | { readonly drop: true }
  | { readonly delayMs: number }
  /** Handle the request for real (e.g. create the job), then answer with `status` or drop the connection. */
  | { readonly after: { readonly status: number } | "drop" }
  /** Never handle it: it hangs until the client goes away, and the service never acts on it. */
  | { readonly hold: "unhandled" }
  /** Handle it for real (e.g. create the job), then never answer: it hangs until the client goes away. */
  | { readonly hold: "handled" };

export interface FaultRule {
  readonly kind: RouteKind;
  times: number;
  readonly action: FaultAction;
}

export interface NextJobPlan {
  /** Stay Running at least this long (ms) before the pipeline runs. */
  runningMs?: number;
  /** Stay Running until a job GET has seen it Running (so a waiter is sure to observe that status). */
  holdRunningUntilPolled?: boolean;
  /** Run with a corrupt heart-classifier model file, so the score step really fails (prepare succeeds). */
  breakModel?: boolean;
}

export interface FakeJob {
  readonly name: string;
  readonly kind: "batch" | "pipeline";
  status: string;
  createdAt: Date;
  readonly experimentName: string;
  readonly properties: Record<string, string>;
  readonly tags: Record<string, string>;
  readonly inputUri: string;
  readonly scoreMode: string;
  readonly outputUri: string;
  readonly componentId?: string;
  readonly settings?: Record<string, unknown>;
  readonly deployment?: string;
  error?: { code: string; message: string; target?: string };
  readonly abort: AbortController;
  readonly plan: NextJobPlan;
  done: Promise<void>;
  /** Set while the job holds in Running for holdRunningUntilPolled; a job GET calls it. */
  onPolledRunning?: () => void;
  /** The run-history child runs (pipeline steps) that have started. */
  readonly steps: FakeStepRun[];
}

/** A child run as the run-history service lists it (the fields azure-ai-ml's runhistory `Run` model reads). */
export interface FakeStepRun {
  readonly runId: string;
  readonly parentRunId: string;
  readonly displayName: string;
  status: string;
  error?: { error: { code: string; message: string } };
}

export interface FakeAzureMLOptions {
  readonly azurite: Azurite;
  readonly subscriptionId?: string;
  readonly resourceGroupName?: string;
  readonly workspaceName?: string;
  readonly endpointName?: string;
  readonly deployments?: readonly string[];
  readonly defaultDeployment?: string;
  readonly datastoreName?: string;
  readonly containerName?: string;
  /** How long each status before Running lasts. @default 150 */
  readonly stepMs?: number;
  readonly workDir?: string;
  /** Jobs per list page (to exercise nextLink). @default 20 */
  readonly pageSize?: number;
}

const FINAL = new Set(["Completed", "Failed", "Canceled", "NotResponding", "Paused"]);

export class FakeAzureML {
  readonly subscriptionId: string;
  readonly resourceGroupName: string;
  readonly workspaceName: string;
  readonly endpointName: string;
  readonly datastoreName: string;
  readonly containerName: string;
  deployments: string[];
  defaultDeployment: string;
  readonly requests: RecordedRequest[] = [];
  readonly jobs = new Map<string, FakeJob>();
  readonly faults: FaultRule[] = [];
  nextJob: NextJobPlan = {};
  /** Whether the data-plane invoke's custom `properties` are copied onto the ARM job ([unconfirmed] on the real service). */
  copyInvokeProperties = true;
  url = "";
  private server?: https.Server;
  private readonly stepMs: number;
  private readonly workDir: string;
  private readonly pageSize: number;

  constructor(private readonly opts: FakeAzureMLOptions) {
    this.subscriptionId = opts.subscriptionId ?? "00000000-0000-0000-0000-000000000001";
    this.resourceGroupName = opts.resourceGroupName ?? "rg-heart";
    this.workspaceName = opts.workspaceName ?? "ws-heart";
    this.endpointName = opts.endpointName ?? "heart-ep-dev";
    this.deployments = [...(opts.deployments ?? ["uci-classifier-prepros-xgb", "staging"])];
    this.defaultDeployment = opts.defaultDeployment ?? this.deployments[0];
    this.datastoreName = opts.datastoreName ?? "workspaceblobstore";
    this.containerName = opts.containerName ?? "azureml-blobstore-0000";
    this.stepMs = opts.stepMs ?? 150;
    this.pageSize = opts.pageSize ?? 20;
    this.workDir = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "fake-azureml-"));
  }

  get wsId(): string {
    return `/subscriptions/${this.subscriptionId}/resourceGroups/${this.resourceGroupName}/providers/Microsoft.MachineLearningServices/workspaces/${this.workspaceName}`;
  }
  get scoringUri(): string {
    return `${this.url}/inference/${this.endpointName}/jobs`;
  }
  /** Stack outputs as the stack exports them. */
  get stackOutputs(): Record<string, unknown> {
    return {
      subscriptionId: this.subscriptionId,
      resourceGroupName: this.resourceGroupName,
      workspaceName: this.workspaceName,
      location: "westeurope",
      endpointName: this.endpointName,
      scoringUri: this.scoringUri,
      defaultDeploymentName: this.defaultDeployment,
      deploymentNames: this.deployments,
      datastoreName: this.datastoreName,
      computeName: "batch-cluster",
      pipelineComponentId: `${this.wsId}/components/uci_heart_classifier_scorer/versions/abc123`,
      versions: {},
    };
  }

  async start(): Promise<void> {
    const tls = testTls();
    await this.blobs().getContainerClient(this.containerName).createIfNotExists();
    this.server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as { port: number };
    this.url = `https://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    for (const j of this.jobs.values()) j.abort.abort();
    await Promise.all([...this.jobs.values()].map((j) => j.done.catch(() => undefined)));
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.closeAllConnections?.();
      this.server.close(() => resolve());
    });
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  /** Back to a well-behaved service: no faults, no plan for the next job, invoke properties copied. */
  reset(): void {
    this.faults.length = 0;
    this.nextJob = {};
    this.copyInvokeProperties = true;
  }

  /** Makes a job look `ms` older than it is (a job from days ago). */
  ageJob(name: string, ms: number): void {
    const j = this.jobs.get(name);
    if (!j) throw new Error(`no job ${name}`);
    j.createdAt = new Date(j.createdAt.getTime() - ms);
  }

  /** Adds `n` finished jobs of other invocations, created `createdAgoMs` ago (a busy workspace's history). */
  addFinishedJobs(n: number, createdAgoMs = 0): void {
    for (let i = 0; i < n; i++) {
      const name = randomUUID();
      const other = randomUUID();
      this.jobs.set(name, {
        name, kind: "batch", status: "Completed", createdAt: new Date(Date.now() - createdAgoMs), experimentName: this.endpointName,
        properties: { "heart.invocationId": other, "azureml.endpointname": this.endpointName }, tags: {},
        inputUri: `azureml://datastores/${this.datastoreName}/paths/LocalUpload/x/`, scoreMode: "append",
        outputUri: `azureml://datastores/${this.datastoreName}/paths/scores/${other}/`, abort: new AbortController(), plan: {}, done: Promise.resolve(), steps: [],
      });
    }
  }

  fault(kind: RouteKind, action: FaultAction, times = 1): void {
    this.faults.push({ kind, action, times });
  }

  /** A view of the requests made from now on (optionally of one route). */
  since(): (kind?: RouteKind) => RecordedRequest[] {
    const n = this.requests.length;
    return (kind) => this.requests.slice(n).filter((q) => !kind || q.kind === kind);
  }

  calls(kind: RouteKind): RecordedRequest[] {
    return this.requests.filter((r) => r.kind === kind);
  }

  /** Someone else cancels the job (Studio, another script). */
  cancelJob(name: string): void {
    const j = this.jobs.get(name);
    if (j && !FINAL.has(j.status)) {
      j.status = "CancelRequested";
      j.abort.abort();
    }
  }

  /** The service's own storage access (account key), as the real service has its own identity. */
  blobs(): BlobServiceClient {
    return BlobServiceClient.fromConnectionString(this.opts.azurite.connectionString);
  }

  // ---- HTTP ---------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", this.url);
    const kind = this.classify(req.method ?? "GET", url.pathname);
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const auth = String(req.headers.authorization ?? "");
    let audience: string | undefined;
    let exp = 0;
    if (auth.startsWith("Bearer ")) {
      try {
        const claims = decodeJwt(auth.slice(7));
        audience = claims.aud as string;
        exp = Number(claims.exp);
      } catch {
        audience = undefined;
      }
    }
    this.requests.push({ kind, method: req.method ?? "", path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body, audience, at: Date.now() });

    const rule = this.faults.find((f) => f.times > 0 && f.kind === kind);
    if (rule) rule.times--;
    const act = rule?.action;
    if (act && "delayMs" in act) await new Promise((r) => setTimeout(r, act.delayMs));
    if (act && "drop" in act) return void req.socket.destroy();
    if (act && "hold" in act && act.hold === "unhandled") return; // hangs until the client goes away; never acted on
    if (act && "status" in act) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (act.retryAfter !== undefined) headers["retry-after"] = String(act.retryAfter);
      res.writeHead(act.status, headers);
      return void res.end(JSON.stringify(act.body ?? { error: { code: act.status === 429 ? "TooManyRequests" : "ServiceUnavailable", message: `injected HTTP ${act.status}` } }));
    }

    // The discovery document is read without a token (azure-ai-ml downloads it with a plain request).
    if (kind === "discovery") return this.send(res, 200, this.discoveryBody());
    const wantAudience = kind === "invoke" ? ML_AUDIENCE : ARM_AUDIENCE;
    if (!audience) return this.send(res, 401, { error: { code: "AuthenticationFailed", message: "Authentication failed: no bearer token." } });
    if (audience !== wantAudience) return this.send(res, 401, { error: { code: "InvalidAuthenticationTokenAudience", message: `The access token has audience '${audience}'; expected '${wantAudience}'.` } });
    if (exp * 1000 < Date.now()) return this.send(res, 401, { error: { code: "ExpiredAuthenticationToken", message: "The access token expiry UTC time is earlier than current UTC time." } });
    if (kind !== "invoke" && kind !== "run-children" && url.searchParams.get("api-version") !== FAKE_API_VERSION) {
      return this.send(res, 400, { error: { code: "InvalidApiVersion", message: `api-version must be ${FAKE_API_VERSION} (got ${url.searchParams.get("api-version")})` } });
    }

    let status: number;
    let answer: unknown;
    let headers: Record<string, string> = {};
    try {
      [status, answer, headers = {}] = await this.route(kind, req, url, body);
    } catch (e) {
      [status, answer] = [500, { error: { code: "InternalError", message: (e as Error).message } }];
    }
    if (act && "hold" in act) return; // handled; the answer never comes
    if (act && "after" in act) {
      if (act.after === "drop") return void req.socket.destroy();
      return this.send(res, act.after.status, { error: { code: "InternalServerError", message: "injected failure after the request was handled" } });
    }
    this.send(res, status, answer, headers);
  }

  private send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { "content-type": "application/json", "x-ms-request-id": randomUUID(), ...headers });
    res.end(body === undefined ? "" : JSON.stringify(body));
  }

  private classify(method: string, p: string): RouteKind {
    if (method === "POST" && /^\/inference\/[^/]+\/jobs$/.test(p)) return "invoke";
    if (method === "GET" && p === "/discovery") return "discovery";
    if (method === "GET" && /^\/history\/v1\.0\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.MachineLearningServices\/workspaces\/[^/]+\/runs\/[^/]+\/children$/i.test(p)) return "run-children";
    if (method === "GET" && /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.MachineLearningServices\/workspaces\/[^/]+$/i.test(p)) return "workspace-get";
    const m = /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.MachineLearningServices\/workspaces\/[^/]+\/(.*)$/i.exec(p);
    if (!m) return "unknown";
    const rest = m[1];
    if (/^datastores\/[^/]+$/.test(rest)) return "datastore-get";
    if (/^batchEndpoints\/[^/]+$/.test(rest)) return "endpoint-get";
    if (/^batchEndpoints\/[^/]+\/deployments$/.test(rest)) return "deployments-list";
    if (/^batchEndpoints\/[^/]+\/deployments\/[^/]+$/.test(rest)) return "deployment-get";
    if (rest === "jobs") return "job-list";
    if (/^jobs\/[^/]+$/.test(rest)) return method === "PUT" ? "job-put" : "job-get";
    if (/^jobs\/[^/]+\/cancel$/.test(rest)) return "job-cancel";
    if (/^operationResults\//.test(rest)) return "operation";
    return "unknown";
  }

  private async route(kind: RouteKind, req: IncomingMessage, url: URL, body: unknown): Promise<[number, unknown, Record<string, string>?]> {
    const p = url.pathname;
    const ws = new RegExp(`^(/history/v1\\.0)?/subscriptions/${this.subscriptionId}/resourceGroups/${this.resourceGroupName}/providers/Microsoft\\.MachineLearningServices/workspaces/${this.workspaceName}(/|$)`, "i");
    if (kind !== "invoke" && !ws.test(p)) return [404, { error: { code: "ResourceNotFound", message: `workspace not found: ${p}` } }];
    const seg = p.split("/");
    const last = decodeURIComponent(seg[seg.length - 1]);
    switch (kind) {
      case "datastore-get":
        if (last !== this.datastoreName) return [404, { error: { code: "UserError", message: `datastore ${last} not found` } }];
        return [200, {
          id: `${this.wsId}/datastores/${last}`, name: last, type: "Microsoft.MachineLearningServices/workspaces/datastores",
          properties: { datastoreType: "AzureBlob", accountName: this.opts.azurite.accountName, containerName: this.containerName, endpoint: "core.windows.net", protocol: "https", credentials: { credentialsType: "None" }, isDefault: true },
        }];
      case "endpoint-get":
        if (last !== this.endpointName) return [404, { error: { code: "UserError", message: `batch endpoint ${last} not found` } }];
        return [200, {
          id: `${this.wsId}/batchEndpoints/${last}`, name: last, location: "westeurope", type: "Microsoft.MachineLearningServices/workspaces/batchEndpoints",
          properties: { authMode: "AADToken", scoringUri: this.scoringUri, defaults: { deploymentName: this.defaultDeployment }, provisioningState: "Succeeded", properties: { "ComponentDeployment.Enabled": "true" } },
        }];
      case "deployments-list":
        return [200, { value: this.deployments.map((d) => this.deploymentBody(d)) }];
      case "deployment-get":
        return this.deployments.includes(last) ? [200, this.deploymentBody(last)] : [404, { error: { code: "UserError", message: `deployment ${last} not found` } }];
      case "workspace-get":
        return [200, {
          id: this.wsId, name: this.workspaceName, type: "Microsoft.MachineLearningServices/workspaces", location: "westeurope",
          properties: { friendlyName: this.workspaceName, discoveryUrl: `${this.url}/discovery`, workspaceId: "cba12345-abab-abab-abab-ababab123456", provisioningState: "Succeeded" },
        }];
      case "run-children": {
        const runId = decodeURIComponent(seg[seg.length - 2]);
        const j = this.jobs.get(runId);
        if (!j) return [404, { error: { code: "UserError", message: `Run ${runId} was not found` } }];
        const skip = Number(url.searchParams.get("$skip") ?? 0);
        const page = j.steps.slice(skip, skip + this.pageSize);
        const next = skip + this.pageSize < j.steps.length ? `${this.url}${p}?$skip=${skip + this.pageSize}` : undefined;
        return [200, { value: page.map((r) => ({ ...r, runType: "azureml.StepRun" })), ...(next ? { nextLink: next } : {}) }];
      }
      case "job-list": {
        // Jobs_List's `properties` filter (2025-12-01): comma-separated names, each optionally "=value".
        const wanted = (url.searchParams.get("properties") ?? "").split(",").filter(Boolean).map((kv) => {
          const i = kv.indexOf("=");
          return i < 0 ? { k: kv, v: undefined } : { k: kv.slice(0, i), v: kv.slice(i + 1) };
        });
        const all = [...this.jobs.values()]
          .filter((j) => wanted.every(({ k, v }) => k in j.properties && (v === undefined || j.properties[k] === v)))
          .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
        const skip = Number(url.searchParams.get("$skip") ?? 0);
        const page = all.slice(skip, skip + this.pageSize);
        const keep = new URLSearchParams(url.search);
        keep.set("$skip", String(skip + this.pageSize));
        const next = skip + this.pageSize < all.length ? `${this.url}${p}?${keep.toString()}` : undefined;
        return [200, { value: page.map((j) => this.jobBody(j)), ...(next ? { nextLink: next } : {}) }];
      }
      case "job-get": {
        const j = this.jobs.get(last);
        if (j?.status === "Running" && j.onPolledRunning) {
          const body = this.jobBody(j);
          j.onPolledRunning();
          return [200, body];
        }
        return j ? [200, this.jobBody(j)] : [404, { error: { code: "UserError", message: `job ${last} not found` } }];
      }
      case "job-put":
        return this.putJob(last, body);
      case "job-cancel": {
        const name = decodeURIComponent(seg[seg.length - 2]);
        const j = this.jobs.get(name);
        if (!j) return [404, { error: { code: "UserError", message: `job ${name} not found` } }];
        if (FINAL.has(j.status)) return [400, { error: { code: "CancelPipelineRunInTerminalStatus", message: `Cannot cancel pipeline run in terminal status ${j.status}` } }];
        this.cancelJob(name);
        return [202, undefined, { location: `${this.url}${this.wsId}/operationResults/cancel-${name}?api-version=${FAKE_API_VERSION}` }];
      }
      case "operation":
        return [200, {}];
      case "invoke":
        return this.invoke(req, p, body);
      default:
        return [404, { error: { code: "NotFound", message: `no route for ${req.method} ${p}` } }];
    }
  }

  private deploymentBody(name: string): unknown {
    return {
      id: `${this.wsId}/batchEndpoints/${this.endpointName}/deployments/${name}`, name, type: "Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments",
      properties: {
        deploymentConfiguration: { deploymentConfigurationType: "PipelineComponent", componentId: { referenceType: "Id", assetId: this.stackOutputs.pipelineComponentId }, settings: { default_compute: "batch-cluster", continue_on_step_failure: "false" } },
        provisioningState: "Succeeded",
      },
    };
  }

  /** Data plane: the batch endpoint's invoke. Accepts the documented PascalCase and the SDK's camelCase keys. */
  private invoke(req: IncomingMessage, p: string, body: unknown): [number, unknown] {
    const ep = p.split("/")[2];
    if (ep !== this.endpointName) return [404, { error: { code: "UserError", message: `endpoint ${ep} not found` } }];
    const dep = (req.headers["azureml-model-deployment"] as string | undefined) ?? this.defaultDeployment;
    if (!this.deployments.includes(dep)) return [404, { error: { code: "UserError", message: `deployment ${dep} not found` } }];
    const props = ((body as Record<string, unknown>)?.properties ?? {}) as Record<string, unknown>;
    const pick = (o: unknown, ...keys: string[]): unknown => keys.map((k) => (o as Record<string, unknown>)?.[k]).find((v) => v !== undefined);
    const inputs = pick(props, "InputData", "inputData") as Record<string, unknown> | undefined;
    const outputs = pick(props, "OutputData", "outputData") as Record<string, unknown> | undefined;
    const inputData = inputs?.input_data;
    const scoreMode = inputs?.score_mode;
    const scores = outputs?.scores;
    const problems: string[] = [];
    if (String(pick(inputData, "JobInputType", "jobInputType")).toLowerCase().replace("_", "") !== "urifolder") problems.push("input_data must be UriFolder");
    const inputUri = pick(inputData, "Uri", "uri");
    if (typeof inputUri !== "string") problems.push("input_data.Uri missing");
    if (String(pick(scoreMode, "JobInputType", "jobInputType")).toLowerCase() !== "literal") problems.push("score_mode must be Literal");
    const outputUri = pick(scores, "Uri", "uri");
    if (typeof outputUri !== "string") problems.push("OutputData.scores.Uri missing");
    if (problems.length) return [400, { error: { code: "UserError", message: problems.join("; ") } }];
    const extra = (pick(props, "properties") ?? {}) as Record<string, string>;
    const name = randomUUID();
    const job = this.createJob({
      name,
      kind: "batch",
      experimentName: extra.experimentName ?? this.endpointName,
      properties: { ...(this.copyInvokeProperties ? extra : {}), "azureml.endpointname": this.endpointName, "azureml.deploymentname": dep, runSource: "BatchDeployment", runType: "HTTP" },
      tags: { "azureml.batchrun": "true", "azureml.deploymentname": dep, "azureml.jobtype": "azureml.pipelinejob" },
      inputUri: inputUri as string,
      scoreMode: String(pick(scoreMode, "Value", "value")),
      outputUri: outputUri as string,
      deployment: dep,
    });
    return [200, {
      id: `${this.wsId}/batchEndpoints/${this.endpointName}/jobs/${name}`, name, type: "Microsoft.MachineLearningServices/workspaces/batchEndpoints/jobs",
      properties: { status: job.status, name: "stoic_energy_xjgsslff", properties: job.properties, tags: job.tags },
    }];
  }

  private putJob(name: string, body: unknown): [number, unknown] {
    const existing = this.jobs.get(name);
    if (existing) return [200, this.jobBody(existing)];
    const p = ((body as Record<string, unknown>)?.properties ?? {}) as Record<string, unknown>;
    const inputs = (p.inputs ?? {}) as Record<string, Record<string, unknown>>;
    const outputs = (p.outputs ?? {}) as Record<string, Record<string, unknown>>;
    const problems: string[] = [];
    if (p.jobType !== "Pipeline") problems.push("jobType must be Pipeline");
    if (typeof p.componentId !== "string") problems.push("componentId missing");
    const settings = (p.settings ?? {}) as Record<string, unknown>;
    if (!settings.default_compute) problems.push("settings.default_compute missing (steps would have no compute)");
    if (inputs.input_data?.jobInputType !== "uri_folder" || typeof inputs.input_data?.uri !== "string") problems.push("inputs.input_data must be uri_folder with uri");
    if (inputs.score_mode?.jobInputType !== "literal") problems.push("inputs.score_mode must be literal");
    if (typeof outputs.scores?.uri !== "string") problems.push("outputs.scores.uri missing");
    if (problems.length) return [400, { error: { code: "UserError", message: problems.join("; ") } }];
    const job = this.createJob({
      name,
      kind: "pipeline",
      experimentName: String(p.experimentName ?? "Default"),
      properties: { ...((p.properties ?? {}) as Record<string, string>) },
      tags: { ...((p.tags ?? {}) as Record<string, string>) },
      inputUri: inputs.input_data.uri as string,
      scoreMode: String(inputs.score_mode.value),
      outputUri: outputs.scores.uri as string,
      componentId: p.componentId as string,
      settings,
    });
    return [201, this.jobBody(job)];
  }

  private jobBody(j: FakeJob): unknown {
    return {
      id: `${this.wsId}/jobs/${j.name}`,
      name: j.name,
      type: "Microsoft.MachineLearningServices/workspaces/jobs",
      properties: {
        jobType: "Pipeline",
        status: j.status,
        experimentName: j.experimentName,
        displayName: j.name,
        componentId: j.componentId,
        settings: j.settings,
        properties: j.properties,
        tags: j.tags,
        inputs: { input_data: { jobInputType: "uri_folder", uri: j.inputUri, mode: "ReadOnlyMount" }, score_mode: { jobInputType: "literal", value: j.scoreMode } },
        outputs: { scores: { jobOutputType: "uri_folder", uri: j.outputUri, mode: "ReadWriteMount" } },
        services: { Studio: { jobServiceType: "Studio", endpoint: `https://ml.azure.com/runs/${j.name}?wsid=${this.wsId}` } },
      },
      systemData: { createdAt: j.createdAt.toISOString(), createdBy: "test user" },
    };
  }

  // ---- jobs ---------------------------------------------------------------------------------------------

  private discoveryBody(): unknown {
    // The keys a workspace discovery document has; azure-ai-ml reads `api` (WorkspaceDiscoveryUrlKey.API).
    return { api: this.url, catalog: this.url, experimentation: this.url, history: this.url, modelmanagement: this.url, pipelines: this.url };
  }

  private createJob(a: Omit<FakeJob, "status" | "createdAt" | "abort" | "plan" | "done" | "steps">): FakeJob {
    const job: FakeJob = { ...a, status: "NotStarted", createdAt: new Date(), abort: new AbortController(), plan: this.nextJob, done: Promise.resolve(), steps: [] };
    this.nextJob = {};
    this.jobs.set(job.name, job);
    job.done = this.execute(job).catch((e) => {
      job.status = "Failed";
      job.error = { code: "SystemError", message: (e as Error).message };
    });
    return job;
  }

  private async pause(job: FakeJob, ms: number): Promise<boolean> {
    if (job.abort.signal.aborted) return false;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      job.abort.signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
    });
    return !job.abort.signal.aborted;
  }

  private containerPath(uri: string): string {
    // The short datastore URI (inputs, ARM jobs) or the datastore's ARM id + /paths/ (batch OutputData, as documented).
    const m =
      /^azureml:\/\/datastores\/([^/]+)\/paths\/(.*)$/.exec(uri) ??
      new RegExp(`^(?:azureml:)?${this.wsId.replace(/[.]/g, "\\.")}/datastores/([^/]+)/paths/(.*)$`, "i").exec(uri);
    if (!m || m[1] !== this.datastoreName) throw new Error(`fake service reads only azureml://datastores/${this.datastoreName}/paths/… or ${this.wsId}/datastores/${this.datastoreName}/paths/… (got ${uri})`);
    return m[2].endsWith("/") ? m[2] : `${m[2]}/`;
  }

  private brokenModels(dir: string): string {
    const models = path.join(dir, "models");
    fs.cpSync(path.join(__dirname, "..", "..", "models"), models, { recursive: true });
    fs.writeFileSync(path.join(models, "heart-classifier", "model.json"), "{ this is not a model");
    return models;
  }

  private async execute(job: FakeJob): Promise<void> {
    for (const s of ["Preparing", "Queued"]) {
      if (!(await this.pause(job, this.stepMs))) return void (job.status = "Canceled");
      job.status = s;
    }
    if (!(await this.pause(job, this.stepMs))) return void (job.status = "Canceled");
    job.status = "Running";
    if (job.plan.holdRunningUntilPolled) {
      await new Promise<void>((resolve) => {
        job.onPolledRunning = resolve;
        job.abort.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      job.onPolledRunning = undefined;
      if (job.abort.signal.aborted) return void (job.status = "Canceled");
    }
    if (job.plan.runningMs && !(await this.pause(job, job.plan.runningMs))) return void (job.status = "Canceled");
    const dir = path.join(this.workDir, job.name);
    const input = path.join(dir, "input");
    fs.mkdirSync(input, { recursive: true });
    const container = this.blobs().getContainerClient(this.containerName);
    const inPrefix = this.containerPath(job.inputUri);
    for await (const b of container.listBlobsFlat({ prefix: inPrefix })) {
      const rel = b.name.slice(inPrefix.length);
      if (rel.includes("/")) continue;
      await container.getBlobClient(b.name).downloadToFile(path.join(input, rel));
    }
    const record = await runLocalPipeline({
      inputs: { input_data: input, score_mode: job.scoreMode },
      modelsDir: job.plan.breakModel ? this.brokenModels(dir) : undefined,
      runsDir: path.join(dir, "runs"),
      runId: "run",
      signal: job.abort.signal,
    }).catch((e) => ({ status: "Failed" as const, error: { message: (e as { problems?: string[] }).problems?.join("; ") ?? (e as Error).message, step: undefined }, outputs: {} as Record<string, string> }));
    // The pipeline's steps as run-history child runs: the ones that started, with the failed one's error.
    for (const st of (record as { steps?: Array<{ name: string; status: string }> }).steps ?? []) {
      if (st.status === "NotStarted") continue;
      const failed = st.status === "Failed";
      job.steps.push({
        runId: randomUUID(), parentRunId: job.name, displayName: st.name, status: st.status,
        ...(failed ? { error: { error: { code: "UserError", message: record.error?.step === st.name && record.error.message ? record.error.message : "step failed" } } } : {}),
      });
    }
    if (record.status === "Canceled" || job.abort.signal.aborted) return void (job.status = "Canceled");
    if (record.status !== "Completed") {
      job.error = { code: "UserError", message: record.error?.message ?? "pipeline failed", target: record.error?.step };
      job.status = "Failed";
      return;
    }
    job.status = "Finalizing";
    const outPrefix = this.containerPath(job.outputUri);
    const scores = record.outputs.scores;
    for (const f of fs.readdirSync(scores)) {
      // The service writes outputs with Content-MD5 set, as uploads through the storage SDK do for small blobs.
      await container.getBlockBlobClient(outPrefix + f).uploadFile(path.join(scores, f));
    }
    job.status = "Completed";
  }
}

// ---- storage fault injection ----------------------------------------------------------------------------


export interface CuttingProxy {
  /** Blob service URL through the proxy (same account path as Azurite's). */
  readonly blobEndpoint: string;
  /** Cut the next `n` connections once `afterBytes` of response bytes have gone to the client. */
  cut(n: number, afterBytes: number): void;
  readonly cutsDone: number;
  stop(): Promise<void>;
}

/**
 * A TCP proxy in front of Azurite (TLS passes through untouched) that can cut a connection in the middle of a
 * response: the "dropped connection mid-download" fault, against real storage.
 */
export async function startCuttingProxy(azurite: Azurite): Promise<CuttingProxy> {
  let pending = 0;
  let threshold = Infinity;
  let cutsDone = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(azurite.port, "127.0.0.1");
    sockets.add(client).add(upstream);
    let sent = 0;
    let armed = false;
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => {
      sent += d.length;
      if (!armed && pending > 0 && sent > threshold) {
        armed = true;
        pending--;
        cutsDone++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    blobEndpoint: `https://127.0.0.1:${port}/${azurite.accountName}`,
    cut(n, afterBytes) {
      pending = n;
      threshold = afterBytes;
    },
    get cutsDone() {
      return cutsDone;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// ---- the scripts as subprocesses against the fake ----------------------------------------------------------

export interface ScriptResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** When the process ended (Date.now()). */
  readonly endedAt: number;
}

export interface SpawnedScript {
  kill(sig: NodeJS.Signals): void;
  stderr(): string;
}

export interface ScriptsHarness {
  readonly azurite: Azurite;
  readonly proxy: CuttingProxy;
  readonly fake: FakeAzureML;
  readonly az: FakeAzCli;
  readonly work: string;
  readonly outputsFile: string;
  /** The environment a script gets: fake az on PATH, the fake's ARM endpoint, storage through the proxy, fast polls. */
  env(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv;
  /** Runs scripts/cli/<cli>.ts as a subprocess in `work`. */
  run(cli: string, args: string[], extra?: Record<string, string | undefined>, onSpawn?: (p: SpawnedScript) => void): Promise<ScriptResult>;
  /** Runs a shell command line (e.g. one a script printed) in `work` with the same environment. */
  runCommand(command: string, extra?: Record<string, string | undefined>): Promise<ScriptResult>;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, "..", "..");

/** Azurite, the cutting proxy, the fake service, a fake `az` and a work folder with the stack outputs file. */
export async function startScriptsHarness(opts: { stepMs?: number; pageSize?: number } = {}): Promise<ScriptsHarness> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "scripts-test-"));
  const azurite = await startAzurite();
  const proxy = await startCuttingProxy(azurite);
  const fake = new FakeAzureML({ azurite, stepMs: opts.stepMs ?? 80, pageSize: opts.pageSize });
  await fake.start();
  const az = makeFakeAzCli();
  const outputsFile = path.join(work, "stack-outputs.json");
  fs.writeFileSync(outputsFile, JSON.stringify(fake.stackOutputs, null, 2));
  const env = (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => {
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (!/^(AZURE_|HEART_|MSI_|IDENTITY_|ARM_|ACTIONS_|npm_)/.test(k)) base[k] = v;
    }
    return {
      ...base,
      HEART_PYTHON: process.env.HEART_PYTHON,
      HEART_TEST_TLS_CERT: process.env.HEART_TEST_TLS_CERT,
      HEART_TEST_TLS_KEY: process.env.HEART_TEST_TLS_KEY,
      PATH: az.path,
      HOME: work,
      AZURE_TOKEN_CREDENTIALS: "AzureCliCredential",
      TS_NODE_PROJECT: path.join(ROOT, "tsconfig.json"),
      HEART_ARM_ENDPOINT: fake.url,
      HEART_BLOB_ENDPOINT: proxy.blobEndpoint,
      HEART_STACK_OUTPUTS: outputsFile,
      HEART_RUNS_DIR: path.join(work, "runs"),
      HEART_POLL_INTERVAL_MS: "100",
      HEART_POLL_MAX_INTERVAL_MS: "300",
      HEART_RETRY_BASE_MS: "100",
      HEART_RETRY_MAX_MS: "2000",
      HEART_INVOKE_LOOKUP_DELAY_MS: "100",
      ...extra,
    };
  };
  const spawned = (file: string, args: string[], extra: Record<string, string | undefined>, onSpawn?: (p: SpawnedScript) => void): Promise<ScriptResult> => {
    const started = Date.now();
    return new Promise((resolve) => {
      const child = spawn(file, args, { cwd: work, env: env(extra) });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      onSpawn?.({ kill: (sig) => void child.kill(sig), stderr: () => stderr });
      child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started, endedAt: Date.now() }));
    });
  };
  const run = (cli: string, args: string[], extra: Record<string, string | undefined> = {}, onSpawn?: (p: SpawnedScript) => void): Promise<ScriptResult> =>
    spawned(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), path.join(ROOT, "scripts", "cli", `${cli}.ts`), ...args], extra, onSpawn);
  const runCommand = (command: string, extra: Record<string, string | undefined> = {}): Promise<ScriptResult> =>
    spawned("/bin/sh", ["-c", command], { ...extra, PATH: `${path.dirname(process.execPath)}${path.delimiter}${az.path}` });
  return {
    azurite,
    proxy,
    fake,
    az,
    work,
    outputsFile,
    env,
    run,
    runCommand,
    async stop() {
      await fake.stop();
      await proxy.stop();
      await azurite.stop();
      az.remove();
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

/** Asserts a script exited 0, showing its stderr otherwise. */
export function assertOk(r: ScriptResult, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code ?? r.signal}):\n${r.stderr}`);
}

export interface HarnessContext {
  h: ScriptsHarness;
  fake: FakeAzureML;
  /** A folder holding the sample data/unlabeled/heart.csv. */
  input: string;
}

/**
 * Mocha hooks for a describe block: one harness for the block, an input folder with the sample, the fake's knobs
 * reset before each test and its jobs stopped after. The returned object is filled in by the `before` hook.
 */
export function useScriptsHarness(): HarnessContext {
  const ctx = {} as HarnessContext;
  before(async function () {
    this.timeout(180_000);
    ctx.h = await startScriptsHarness();
    ctx.fake = ctx.h.fake;
    ctx.input = path.join(fs.mkdtempSync(path.join(ctx.h.work, "in-")), "heart");
    fs.mkdirSync(ctx.input);
    fs.copyFileSync(path.join(ROOT, "data", "unlabeled", "heart.csv"), path.join(ctx.input, "heart.csv"));
  });
  after(async () => ctx.h?.stop());
  beforeEach(() => ctx.fake.reset());
  afterEach(() => {
    for (const j of ctx.fake.jobs.values()) ctx.fake.cancelJob(j.name);
  });
  return ctx;
}
