/**
 * One identity path for every Azure call (lib/azureCredential.ts) and the cloud's scopes (lib/cloud.ts).
 *
 * Pure parts: which cloud and which sign-in a set of variables means, and the refusals.
 * For real: the @azure/identity ClientAssertionCredential against a fake GitHub ID-token endpoint and a fake Entra
 * token endpoint (test/support/fakeOidc.ts: short-lived assertions, expiry enforced), driving
 *  - a deploy-shaped run: the folder-upload dynamic provider (datastore lookup on ARM, then blob upload to
 *    Azurite) whose first ARM call comes after the job's first assertion has expired;
 *  - a long `npm run score` (invoke, wait, pull) in a subprocess, whose tokens are renewed many times over.
 * A fake `az` on PATH shows that neither touches the Azure CLI.
 */
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ClientAssertionCredential } from "@azure/identity";
import { CLOUDS, CloudError, cloudFromEnv, cloudOfArmEndpoint } from "../lib/cloud";
import { azureCredential, GITHUB_OIDC_AUDIENCE, requestGithubIdToken, signInFrom, SignInConfigError } from "../lib/azureCredential";
import { createArmClient } from "../lib/armClient";
import { hashFolder } from "../lib/contentHash";
import { azureFolderUploadSeams, makeFolderUploadProvider } from "../infra/folderUploadResource";
import { cloudScopes, defaultCredential, toCliError } from "../scripts/lib/azure/credential";
import { ExitCode } from "../scripts/lib/exitCodes";
import { startAzurite, Azurite } from "./support/azurite";
import { FakeAzureML } from "./support/fakeAzureML";
import { makeFakeAzCli, FakeAzCli } from "./support/fakeAzCli";
import { DEPLOY_CLIENT, EXCHANGE_AUDIENCE, FakeOidc } from "./support/fakeOidc";
import { decodeJwt } from "./support/tokens";

const ROOT = path.resolve(__dirname, "..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a script's CLI (scripts/cli/<name>.ts) as `npm run <name>` does (through scripts/cli/launch.js), without npm. */
function runCli(name: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, "scripts", "cli", "launch.js"), name, ...args], { cwd, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("identity: the cloud decides endpoints and scopes (lib/cloud.ts)", () => {
  it("names each supported cloud's ARM, ML and storage scopes and authority", () => {
    assert.deepStrictEqual(
      Object.values(CLOUDS).map((c) => [c.name, c.armScope, c.mlScope, c.storageScope, c.authorityHost]),
      [
        ["AzureCloud", "https://management.azure.com/.default", "https://ml.azure.com/.default", "https://storage.azure.com/.default", "https://login.microsoftonline.com"],
        ["AzureUSGovernment", "https://management.usgovcloudapi.net/.default", "https://ml.azure.us/.default", "https://storage.azure.us/.default", "https://login.microsoftonline.us"],
        ["AzureChinaCloud", "https://management.chinacloudapi.cn/.default", "https://ml.azure.cn/.default", "https://storage.azure.cn/.default", "https://login.chinacloudapi.cn"],
      ],
    );
  });

  it("reads the cloud from HEART_AZURE_CLOUD, azure-native's ARM_ENVIRONMENT, or a known HEART_ARM_ENDPOINT", () => {
    assert.strictEqual(cloudFromEnv({}).name, "AzureCloud");
    assert.strictEqual(cloudFromEnv({ HEART_AZURE_CLOUD: "azureusgovernment" }).name, "AzureUSGovernment");
    assert.strictEqual(cloudFromEnv({ ARM_ENVIRONMENT: "china" }).name, "AzureChinaCloud");
    assert.strictEqual(cloudFromEnv({ HEART_ARM_ENDPOINT: "https://management.usgovcloudapi.net/" }).name, "AzureUSGovernment");
    assert.strictEqual(cloudOfArmEndpoint("https://MANAGEMENT.chinacloudapi.cn"), "AzureChinaCloud");
    // A proxy of a named cloud, and a loopback test server (the public cloud unless named).
    assert.strictEqual(cloudFromEnv({ HEART_ARM_ENDPOINT: "https://arm-proxy.corp.example", HEART_AZURE_CLOUD: "AzureChinaCloud" }).name, "AzureChinaCloud");
    assert.strictEqual(cloudFromEnv({ HEART_ARM_ENDPOINT: "https://127.0.0.1:4443" }).name, "AzureCloud");
  });

  it("refuses unknown or contradictory clouds, saying what to set", () => {
    assert.throws(() => cloudFromEnv({ HEART_AZURE_CLOUD: "AzureStack" }), (e: Error) => e instanceof CloudError && /HEART_AZURE_CLOUD=AzureStack is not a cloud this project supports; known clouds: AzureCloud/.test(e.message));
    assert.throws(() => cloudFromEnv({ HEART_ARM_ENDPOINT: "https://management.local.azurestack.external" }), /is not the Resource Manager of a cloud this project supports .*name that cloud with HEART_AZURE_CLOUD/);
    assert.throws(() => cloudFromEnv({ HEART_ARM_ENDPOINT: "https://management.azure.com", ARM_ENVIRONMENT: "usgovernment" }), /is AzureCloud's Resource Manager, but the cloud is set to AzureUSGovernment/);
    assert.throws(() => cloudFromEnv({ HEART_AZURE_CLOUD: "AzureCloud", ARM_ENVIRONMENT: "china" }), /name different clouds/);
    assert.throws(() => cloudFromEnv({ HEART_ARM_ENDPOINT: "not a url" }), /is not a URL/);
  });

  it("the scripts turn a bad cloud into exit 2 before signing in; the clients ask for the cloud's scopes", () => {
    const e = toCliError(new CloudError("x"), "choosing");
    assert.strictEqual(e.exitCode, ExitCode.Usage);
    assert.throws(() => cloudScopes({ HEART_AZURE_CLOUD: "Mars" }), (err: { exitCode?: number; message: string }) => err.exitCode === ExitCode.Usage && /Mars/.test(err.message));
    assert.throws(() => defaultCredential({ HEART_ARM_ENDPOINT: "https://arm.example.org" }), (err: { exitCode?: number }) => err.exitCode === ExitCode.Usage);
    assert.deepStrictEqual(cloudScopes({ HEART_AZURE_CLOUD: "AzureUSGovernment" }), { arm: "https://management.usgovcloudapi.net/.default", ml: "https://ml.azure.us/.default", storage: "https://storage.azure.us/.default" });
  });

  it("a script refuses an unknown cloud with exit 2 and what to set, before any sign-in or request", async function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cloud-cli-"));
    try {
      const outputs = path.join(dir, "outputs.json");
      fs.writeFileSync(outputs, JSON.stringify({ subscriptionId: "00000000-0000-0000-0000-000000000001", resourceGroupName: "rg", workspaceName: "ws", endpointName: "ep" }));
      const base: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!/^(AZURE_|ARM_|ACTIONS_ID_TOKEN_|HEART_)/.test(k) || k.startsWith("HEART_TEST_")) base[k] = v;
      const r = await runCli("jobs", [], { ...base, HEART_STACK_OUTPUTS: outputs, HEART_AZURE_CLOUD: "AzureStack", HEART_ARM_ENDPOINT: "https://127.0.0.1:9" }, dir);
      assert.strictEqual(r.code, ExitCode.Usage, r.stderr);
      assert.match(r.stderr, /HEART_AZURE_CLOUD=AzureStack is not a cloud this project supports; known clouds: AzureCloud \(https:\/\/management\.azure\.com\), AzureUSGovernment/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the ARM client asks for its cloud's audience (the pipeline's bearer policy sees the scope)", async () => {
    const asked: string[] = [];
    const cred = { getToken: async (s: string | string[]) => (asked.push(([] as string[]).concat(s)[0]), null) };
    const ws = { subscriptionId: "s", resourceGroupName: "rg", workspaceName: "w" };
    for (const env of [{ HEART_AZURE_CLOUD: "AzureChinaCloud" }, {}]) {
      const client = createArmClient(cred, ws, { env, maxRetries: 0 });
      await client.workspaces.get("rg", "w").catch(() => undefined);
    }
    assert.deepStrictEqual(asked, ["https://management.chinacloudapi.cn/.default", "https://management.azure.com/.default"]);
  });
});

describe("identity: every Azure client of the stack and the scripts goes through the one credential and the cloud's scopes", () => {
  /** Source files of the program, the providers and the scripts (not tests or benchmarks). */
  function sources(dir: string): string[] {
    return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : [],
    );
  }
  /** Each `new X(` / `f(` call whose argument text (to the matching parenthesis) lacks `must`. */
  function callsWithout(text: string, call: RegExp, must: RegExp): string[] {
    const out: string[] = [];
    for (const m of text.matchAll(call)) {
      let depth = 0;
      let end = m.index! + m[0].length - 1;
      for (; end < text.length; end++) {
        if (text[end] === "(") depth++;
        else if (text[end] === ")" && --depth === 0) break;
      }
      const args = text.slice(m.index!, end + 1);
      if (!must.test(args)) out.push(args.replace(/\s+/g, " ").slice(0, 120));
    }
    return out;
  }

  it("no credential is made elsewhere, and blob, ARM and data-plane clients name their cloud's scope", () => {
    const problems: string[] = [];
    for (const f of ["index.ts", ...sources("lib"), ...sources("infra"), ...sources("scripts")]) {
      const text = fs.readFileSync(path.join(ROOT, f), "utf8");
      if (f !== path.join("lib", "azureCredential.ts") && /new (DefaultAzureCredential|AzureCliCredential|ClientAssertionCredential|WorkloadIdentityCredential)\(/.test(text)) problems.push(`${f}: makes its own credential`);
      for (const c of callsWithout(text, /new BlobServiceClient\(/g, /audience:\s*cloudFromEnv\(/)) problems.push(`${f}: ${c} has no cloud audience`);
      for (const c of callsWithout(text, /bearerTokenAuthenticationPolicy\(/g, /scopes:\s*cloudScopes\(/)) problems.push(`${f}: ${c} has no cloud scope`);
      for (const c of callsWithout(text, /new AzureMachineLearningWorkspaces\(/g, /credentialScopes:\s*\[cloud\.armScope\]/)) problems.push(`${f}: ${c} has no cloud scope`);
    }
    assert.deepStrictEqual(problems, []);
    assert.deepStrictEqual(callsWithout("new BlobServiceClient(u, c, { retryOptions: {} })", /new BlobServiceClient\(/g, /audience:/), ["new BlobServiceClient(u, c, { retryOptions: {} })"], "the scan sees a client without one");
  });
});

describe("identity: which sign-in (lib/azureCredential.ts)", () => {
  const gh = { ACTIONS_ID_TOKEN_REQUEST_URL: "https://gh.example/token?api-version=2.0", ACTIONS_ID_TOKEN_REQUEST_TOKEN: "rt" };

  it("GitHub OIDC when the job has an ID-token request URL and the identity's ids; the developer's sign-in otherwise", () => {
    assert.deepStrictEqual(signInFrom({}), { kind: "developer", authorityHost: "https://login.microsoftonline.com" });
    assert.strictEqual(signInFrom({ AZURE_CLIENT_ID: "c", AZURE_TENANT_ID: "t" }).kind, "developer", "a service principal's AZURE_* alone is the developer chain's");
    assert.strictEqual(signInFrom({ ...gh, ARM_USE_OIDC: "false", ARM_CLIENT_ID: "c", ARM_TENANT_ID: "t" }).kind, "developer", "ARM_USE_OIDC=false, as azure-native reads it");
    const s = signInFrom({ ...gh, ARM_USE_OIDC: "true", ARM_CLIENT_ID: "c", ARM_TENANT_ID: "t", ARM_ENVIRONMENT: "usgovernment" });
    assert.deepStrictEqual(s, { kind: "github-oidc", requestUrl: gh.ACTIONS_ID_TOKEN_REQUEST_URL, requestToken: "rt", clientId: "c", tenantId: "t", authorityHost: "https://login.microsoftonline.us" });
    const native = signInFrom({ ARM_OIDC_REQUEST_URL: "https://other/x", ARM_OIDC_REQUEST_TOKEN: "o", ...gh, AZURE_CLIENT_ID: "c", AZURE_TENANT_ID: "t" });
    assert.strictEqual(native.kind === "github-oidc" && native.requestUrl, "https://other/x", "ARM_OIDC_REQUEST_URL first, as azure-native reads it");
  });

  it("refuses two identities and an OIDC sign-in it cannot complete", () => {
    assert.throws(() => signInFrom({ ...gh, ARM_CLIENT_ID: "a", AZURE_CLIENT_ID: "b", ARM_TENANT_ID: "t" }), (e: Error) => e instanceof SignInConfigError && /ARM_CLIENT_ID and AZURE_CLIENT_ID name different client ids: one identity acts on the stack/.test(e.message));
    assert.throws(() => signInFrom({ ARM_USE_OIDC: "true", ARM_CLIENT_ID: "c", ARM_TENANT_ID: "t" }), /needs ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN \(the job needs `permissions: id-token: write`\)/);
    assert.throws(() => signInFrom({ ...gh, ARM_USE_OIDC: "true" }), /needs ARM_CLIENT_ID \(or AZURE_CLIENT_ID\), ARM_TENANT_ID/);
    assert.strictEqual(toCliError(new SignInConfigError("x"), "signing in").exitCode, ExitCode.Usage);
  });
});

describe("identity: GitHub OIDC → Entra → Azure, for real (fake GitHub and Entra endpoints)", function () {
  this.timeout(180_000);
  let oidc: FakeOidc;
  let azurite: Azurite;
  let fake: FakeAzureML;
  let az: FakeAzCli;
  let work: string;
  const saved: Record<string, string | undefined> = {};

  /** Sets process.env as the job sets it for the dynamic provider host (and restores it after). */
  function jobEnvIn(extra: Record<string, string>) {
    for (const k of Object.keys(process.env)) if (/^(AZURE_|ARM_|ACTIONS_ID_TOKEN_|HEART_)/.test(k) && !k.startsWith("HEART_TEST_") && !(k in saved)) saved[k] = process.env[k];
    for (const k of Object.keys(saved)) delete process.env[k];
    for (const [k, v] of Object.entries(extra)) {
      if (!(k in saved)) saved[k] = process.env[k];
      process.env[k] = v;
    }
  }

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "identity-"));
    oidc = new FakeOidc();
    await oidc.start();
    azurite = await startAzurite();
    fake = new FakeAzureML({ azurite, stepMs: 700 });
    await fake.start();
    az = makeFakeAzCli();
  });
  after(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await fake?.stop();
    await azurite?.stop();
    await oidc?.stop();
    az?.remove();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });
  beforeEach(() => {
    oidc.issued.length = 0;
    oidc.exchanges.length = 0;
    oidc.idTokenSeconds = 300;
    oidc.accessTokenSeconds = 3600;
  });

  it("asks GitHub for an ID token with the exchange audience and the request token, and names a refusal", async () => {
    const token = await requestGithubIdToken(oidc.requestUrl, oidc.requestToken);
    assert.strictEqual(decodeJwt(token).aud, GITHUB_OIDC_AUDIENCE);
    assert.strictEqual(GITHUB_OIDC_AUDIENCE, EXCHANGE_AUDIENCE);
    await assert.rejects(requestGithubIdToken(oidc.requestUrl, "wrong"), (e: Error) => e.name === "GithubIdTokenError" && /HTTP 401.*id-token: write/.test(e.message) && !e.message.includes("wrong"));
    oidc.githubFailures = 2;
    assert.strictEqual(decodeJwt(await requestGithubIdToken(oidc.requestUrl, oidc.requestToken)).aud, GITHUB_OIDC_AUDIENCE, "two 503s are retried");
    oidc.githubFailures = 3;
    await assert.rejects(requestGithubIdToken(oidc.requestUrl, oidc.requestToken), /answered HTTP 503/);
    assert.strictEqual(toCliError(Object.assign(new Error("x"), { name: "GithubIdTokenError" }), "signing in").exitCode, ExitCode.Auth);
  });

  it("the credential gets each token with a fresh assertion; a subject with no federated credential is refused (AADSTS70021)", async () => {
    const env = { ...oidc.jobEnv(), PATH: az.path };
    const cred = azureCredential(env);
    assert.ok(cred instanceof ClientAssertionCredential);
    const t = await cred.getToken("https://management.azure.com/.default");
    assert.strictEqual(decodeJwt(t!.token).aud, "https://management.azure.com");
    assert.deepStrictEqual(oidc.exchanges.map((x) => [x.clientId, x.scope.split(" ").find((s) => s.endsWith("/.default")), x.outcome]), [[DEPLOY_CLIENT, "https://management.azure.com/.default", "ok"]]);
    const reader = azureCredential({ ...oidc.jobEnv("99999999-0000-0000-0000-000000000000") });
    await assert.rejects(reader.getToken("https://management.azure.com/.default"), /AADSTS70021/);
    assert.deepStrictEqual(az.calls(), [], "the Azure CLI is never asked");
  });

  it("deploy-shaped run: the upload provider's first ARM call comes after the job's first assertion expired, and succeeds with a fresh one", async () => {
    oidc.idTokenSeconds = 3; // short, yet long enough for a loaded machine to present a fresh one in time
    // The job signs in at its start (what azure/login or a one-time token exchange does): one ID token, now.
    const login = oidc.mintIdToken();
    const loginExp = decodeJwt(login).exp as number;
    await sleep((loginExp - Date.now() / 1000) * 1000 + 1200); // …and it is expired by the first dynamic-provider call
    // An identity that keeps the login assertion (as the Azure CLI does, Azure/azure-cli#28708) is now refused:
    const stale = new ClientAssertionCredential(oidc.tenantId, DEPLOY_CLIENT, async () => login, { authorityHost: oidc.authorityHost, disableInstanceDiscovery: true });
    await assert.rejects(stale.getToken("https://storage.azure.com/.default"), /AADSTS700024/);

    jobEnvIn({ ...oidc.jobEnv(), HEART_ARM_ENDPOINT: fake.url, HEART_BLOB_ENDPOINT: azurite.blobEndpoint, PATH: az.path });
    const source = "models/heart-classifier-transforms";
    const { hash } = hashFolder(path.join(ROOT, source));
    const provider = makeFolderUploadProvider(azureFolderUploadSeams);
    const before = fake.requests.length;
    const created = await provider.create!({
      subscriptionId: fake.subscriptionId,
      resourceGroupName: fake.resourceGroupName,
      workspaceName: fake.workspaceName,
      datastoreName: fake.datastoreName,
      folderName: "heart-classifier-transforms",
      hash,
      source,
    });
    assert.match(String(created.id), new RegExp(`/LocalUpload/${hash}/heart-classifier-transforms$`));
    const arm = fake.requests.slice(before).filter((r) => r.kind === "datastore-get");
    assert.strictEqual(arm.length, 1, "one datastore lookup on ARM");
    assert.strictEqual(arm[0].audience, "https://management.azure.com");
    const blobs: string[] = [];
    for await (const b of fake.blobs().getContainerClient(fake.containerName).listBlobsFlat({ prefix: `LocalUpload/${hash}/` })) blobs.push(b.name);
    assert.ok(blobs.length > 0, "the folder is in the datastore's container");

    const denied = oidc.exchanges.filter((x) => x.assertionJti === decodeJwt(login).jti);
    assert.strictEqual(denied.length, 1, "only the stale credential presented the login assertion");
    const used = oidc.exchanges.filter((x) => x.outcome === "ok");
    assert.deepStrictEqual(used.map((x) => x.scope.split(" ").find((s) => s.endsWith("/.default"))), ["https://management.azure.com/.default", "https://storage.azure.com/.default"]);
    for (const x of used) {
      const issued = oidc.issued.find((t) => t.jti === x.assertionJti)!;
      assert.ok(issued.iat >= loginExp, "each assertion was asked of GitHub after the login one expired");
    }
    assert.deepStrictEqual(az.calls(), [], "the Azure CLI is never asked");
  });

  it("the same as Pulumi's dynamic-provider host runs it: the serialized provider, in a plain Node process, after the login assertion expired", async () => {
    oidc.idTokenSeconds = 3;
    const login = oidc.mintIdToken();
    const loginExp = decodeJwt(login).exp as number;
    const provider = makeFolderUploadProvider(azureFolderUploadSeams);
    const { text } = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true }); // as pulumi.dynamic.Resource does
    const file = path.join(work, "upload-provider.js");
    fs.writeFileSync(file, text);
    await sleep((loginExp - Date.now() / 1000) * 1000 + 1200);
    const source = "models/heart-classifier-transforms";
    const inputs = { subscriptionId: fake.subscriptionId, resourceGroupName: fake.resourceGroupName, workspaceName: fake.workspaceName, datastoreName: fake.datastoreName, folderName: "heart-classifier-transforms", hash: hashFolder(path.join(ROOT, source)).hash, source };
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(AZURE_|ARM_|ACTIONS_ID_TOKEN_|HEART_)/.test(k) || k.startsWith("HEART_TEST_")) base[k] = v;
    const env = { ...base, ...oidc.jobEnv(), NODE_OPTIONS: "", NODE_PATH: path.join(ROOT, "node_modules"), PATH: az.path, HEART_ARM_ENDPOINT: fake.url, HEART_BLOB_ENDPOINT: azurite.blobEndpoint };
    const script = `require(${JSON.stringify(file)}).handler().create(${JSON.stringify(inputs)}).then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e.message); process.exit(3); });`;
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["-e", script], { cwd: ROOT, env });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
    assert.strictEqual(r.code, 0, r.stderr);
    assert.match(JSON.parse(r.stdout).id, new RegExp(`/LocalUpload/${inputs.hash}/heart-classifier-transforms$`));
    const ok = oidc.exchanges.filter((x) => x.outcome === "ok");
    assert.ok(ok.length >= 2 && ok.length === oidc.exchanges.length, JSON.stringify(oidc.exchanges));
    assert.ok(ok.every((x) => oidc.issued.find((t) => t.jti === x.assertionJti)!.iat >= loginExp), "fresh ID tokens, asked after the login one expired");
    assert.deepStrictEqual(az.calls(), [], "the Azure CLI is never asked");
  });

  it("a long wait renews its tokens from fresh ID tokens all along (invoke, then wait on a job that keeps running)", async function () {
    oidc.idTokenSeconds = 3;
    oidc.accessTokenSeconds = 2; // every request needs a new access token, so a new assertion
    const input = path.join(work, "heart-input");
    fs.mkdirSync(input, { recursive: true });
    fs.copyFileSync(path.join(ROOT, "data", "unlabeled", "heart.csv"), path.join(input, "heart.csv"));
    const outputs = path.join(work, "outputs.json");
    fs.writeFileSync(outputs, JSON.stringify(fake.stackOutputs));
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(AZURE_|ARM_|ACTIONS_ID_TOKEN_|HEART_|MSI_|IDENTITY_)/.test(k) || k.startsWith("HEART_TEST_")) base[k] = v;
    const env: NodeJS.ProcessEnv = {
      ...base,
      ...oidc.jobEnv(),
      HEART_PYTHON: process.env.HEART_PYTHON,
      PATH: az.path,
      HOME: work,
      HEART_ARM_ENDPOINT: fake.url,
      HEART_BLOB_ENDPOINT: azurite.blobEndpoint,
      HEART_STACK_OUTPUTS: outputs,
      HEART_POLL_INTERVAL_MS: "300",
      HEART_POLL_MAX_INTERVAL_MS: "600",
    };
    const cli = (name: string, args: string[]) => runCli(name, args, env, work);
    fake.nextJob = { runningMs: 120_000 }; // the job keeps running: the wait outlives many token lifetimes
    const inv = await cli("invoke", ["--input", input]);
    assert.strictEqual(inv.code, 0, inv.stderr);
    const job = inv.stdout.trim();
    const waitStarted = Date.now();
    const w = await cli("wait", [job, "--timeout", "9s"]);
    fake.cancelJob(job);
    assert.strictEqual(w.code, ExitCode.Timeout, w.stderr);
    assert.match(w.stderr, /Running/);
    assert.deepStrictEqual(oidc.exchanges.filter((x) => x.outcome !== "ok"), [], "no exchange refused");
    const scopes = new Set(oidc.exchanges.map((x) => x.scope.split(" ").find((s) => s.endsWith("/.default"))));
    assert.deepStrictEqual([...scopes].sort(), ["https://management.azure.com/.default", "https://ml.azure.com/.default", "https://storage.azure.com/.default"]);
    const jtis = oidc.exchanges.map((x) => x.assertionJti);
    assert.strictEqual(new Set(jtis).size, jtis.length, "each exchange presented its own, fresh assertion");
    const duringWait = oidc.exchanges.filter((x) => x.at >= waitStarted);
    const span = duringWait[duringWait.length - 1].at - duringWait[0].at;
    assert.ok(duringWait.length >= 3 && span > 2 * oidc.idTokenSeconds * 1000, `the wait renewed its token ${duringWait.length} times over ${span} ms, past two ID-token lifetimes`);
    assert.ok(oidc.exchanges.every((x) => x.assertionExp! * 1000 > x.at), "every assertion was unexpired when Entra got it");
    assert.deepStrictEqual(az.calls(), [], "the Azure CLI is never asked");
  });
});
