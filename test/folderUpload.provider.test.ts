/**
 * The upload as a Pulumi dynamic provider: its pure diff (what preview runs), and its create against Azurite
 * (real blob storage), with the datastore look-up replaced by the Azurite target.
 */
import assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { startAzurite, Azurite } from "./support/azurite";
import { TestTokenCredential } from "./support/tokens";
import { hashFolder, defaultExclude } from "../lib/contentHash";
import { StorageAccessDeniedError, uploadFolder } from "../lib/folderUpload";
import { callCount } from "../lib/callStats";
import { checkFolderUpload, diffFolderUpload, FolderUploadInputs, FolderUploadSeams, makeFolderUploadProvider, ResolvedTarget, uploadIsComplete } from "../infra/folderUploadResource";

const ws = { subscriptionId: "11111111-2222-3333-4444-555555555555", resourceGroupName: "rg", workspaceName: "mlw" };

function inputsFor(root: string, rel: string): FolderUploadInputs {
  return { ...ws, datastoreName: "workspaceblobstore", folderName: path.basename(rel), hash: hashFolder(path.join(root, rel)).hash, source: rel };
}

describe("folder upload provider", function () {
  let azurite: Azurite;
  let container: ContainerClient;
  let root: string;
  const containerName = "azureml-blobstore-provider";
  const resolved: { ws: unknown; datastore: string }[] = [];
  let target: ResolvedTarget;
  let seams: FolderUploadSeams;

  before(async () => {
    azurite = await startAzurite();
    container = new BlobServiceClient(azurite.blobEndpoint, new TestTokenCredential()).getContainerClient(containerName);
    await container.create();
    // The datastore's own account URL (what gets registered) and where the bytes go (Azurite, as HEART_BLOB_ENDPOINT would).
    target = {
      accountBlobUrl: `https://${azurite.accountName}.blob.core.windows.net`,
      blobServiceUrl: azurite.blobEndpoint,
      accountName: azurite.accountName,
      containerName,
      credential: new TestTokenCredential(),
    };
    seams = {
      resolveTarget: async (w, datastore) => {
        resolved.push({ ws: w, datastore });
        return target;
      },
      upload: (dir, t) => uploadFolder(dir, t),
      isComplete: uploadIsComplete,
      projectRoot: () => root,
    };
    root = fs.mkdtempSync(path.join(os.tmpdir(), "upload-provider-"));
    fs.mkdirSync(path.join(root, "models", "my-model"), { recursive: true });
    fs.writeFileSync(path.join(root, "models", "my-model", "MLmodel"), "flavors: {}\n");
    fs.writeFileSync(path.join(root, "models", "my-model", "model.json"), "{}");
  });
  after(async () => {
    if (azurite) await azurite.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("diff: nothing for the same content, a replacement for a new hash or datastore, nothing for a moved folder", () => {
    const a = inputsFor(root, "models/my-model");
    assert.deepStrictEqual(diffFolderUpload(a, { ...a }), { changes: false, replaces: [], deleteBeforeReplace: false });
    assert.deepStrictEqual(diffFolderUpload(a, { ...a, hash: "f".repeat(64) }), { changes: true, replaces: ["hash"], deleteBeforeReplace: false });
    assert.deepStrictEqual(diffFolderUpload(a, { ...a, datastoreName: "other" }).replaces, ["datastoreName"]);
    assert.strictEqual(diffFolderUpload(a, { ...a, source: "elsewhere/my-model" }).changes, false);
  });

  it("create uploads the folder to the datastore's container under the content path and reports where", async () => {
    const provider = makeFolderUploadProvider(seams);
    const inputs = inputsFor(root, "models/my-model");
    const uploadsBefore = callCount("blob-upload");
    const result = await provider.create(inputs);
    const p = `LocalUpload/${inputs.hash}/my-model`;
    assert.strictEqual(result.id, `${azurite.accountName}/${containerName}/${p}`);
    assert.deepStrictEqual(result.outs, {
      ...inputs,
      path: p,
      accountName: azurite.accountName,
      containerName,
      // The datastore's own account, never the transfer endpoint: this URL is registered as a codeUri.
      folderUrl: `https://${azurite.accountName}.blob.core.windows.net/${containerName}/${p}`,
      files: 2,
      bytes: 14,
    });
    assert.deepStrictEqual(resolved.at(-1), { ws, datastore: "workspaceblobstore" });
    assert.strictEqual((await container.getBlobClient(`${p}/MLmodel`).getProperties()).metadata?.upload_status, "completed");
    assert.strictEqual(callCount("blob-upload"), uploadsBefore + 1);
    // A second create of the same content (another stack, a re-created resource) writes nothing.
    const etag = (await container.getBlobClient(`${p}/model.json`).getProperties()).etag;
    await provider.create(inputs);
    assert.strictEqual((await container.getBlobClient(`${p}/model.json`).getProperties()).etag, etag);
  });

  it("create fails, registering nothing, when the folder changed since the plan was made", async () => {
    const provider = makeFolderUploadProvider(seams);
    const inputs = { ...inputsFor(root, "models/my-model"), hash: "0".repeat(64) };
    await assert.rejects(provider.create(inputs), /models\/my-model changed while pulumi was running .* Run pulumi up again\./);
  });

  it("create fails with the access-denied message when storage refuses the identity", async () => {
    const denied: FolderUploadSeams = { ...seams, resolveTarget: async () => ({ ...target, credential: new TestTokenCredential(3600, "https://ml.azure.com") }) };
    await assert.rejects(makeFolderUploadProvider(denied).create(inputsFor(root, "models/my-model")), (e: Error) => {
      assert.ok(e instanceof StorageAccessDeniedError);
      assert.match(e.message, /Storage Blob Data Contributor/);
      return true;
    });
  });

  it("check puts source in POSIX form and refuses a folder name that is not the source's last segment", () => {
    const a = inputsFor(root, "models/my-model");
    assert.deepStrictEqual(checkFolderUpload({ ...a, source: ".\\models\\my-model\\" }), { inputs: a });
    assert.deepStrictEqual(checkFolderUpload({ ...a, source: "./models/my-model" }), { inputs: a });
    assert.match(checkFolderUpload({ ...a, folderName: "other" }).failures![0].reason, /folderName other is not the last segment of source models\/my-model/);
    assert.deepStrictEqual(checkFolderUpload({ ...a, hash: "" }).failures!.map((f) => f.property), ["hash"]);
  });

  it("read: a complete upload stays; blobs deleted by hand, or an unfinished upload, show it as gone", async () => {
    const provider = makeFolderUploadProvider(seams);
    fs.writeFileSync(path.join(root, "models", "my-model", "extra.txt"), "read test");
    const inputs = inputsFor(root, "models/my-model");
    const { id, outs } = await provider.create(inputs);
    assert.deepStrictEqual(await provider.read!(id, outs), { id, props: outs });
    // The completion mark is on the first file in sorted order: take it away, as an interrupted upload leaves it.
    await container.getBlobClient(`${outs.path}/MLmodel`).setMetadata({});
    assert.deepStrictEqual(await provider.read!(id, outs), { id: "", props: {} });
    await provider.create(inputs);
    assert.deepStrictEqual((await provider.read!(id, outs)).id, id, "the next create uploads it again");
    for await (const b of container.listBlobsFlat({ prefix: `${outs.path}/` })) await container.deleteBlob(b.name);
    assert.deepStrictEqual(await provider.read!(id, outs), { id: "", props: {} });
    fs.rmSync(path.join(root, "models", "my-model", "extra.txt"));
  });

  it("read by an identity storage refuses fails with the access-denied message instead of reading the upload as gone", async () => {
    const provider = makeFolderUploadProvider(seams);
    const { id, outs } = await provider.create(inputsFor(root, "models/my-model"));
    const denied = makeFolderUploadProvider({ ...seams, resolveTarget: async () => ({ ...target, credential: new TestTokenCredential(3600, "https://ml.azure.com") }) });
    await assert.rejects(denied.read!(id, outs), (e: Error) => e instanceof StorageAccessDeniedError);
  });

  it("delete leaves the content-addressed blobs in place", async () => {
    const provider = makeFolderUploadProvider(seams);
    const inputs = inputsFor(root, "models/my-model");
    const { id, outs } = await provider.create(inputs);
    await provider.delete!(id, outs);
    assert.ok(await container.getBlobClient(`LocalUpload/${inputs.hash}/my-model/MLmodel`).exists());
  });
});

describe("content hash", function () {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hash-"));
    fs.mkdirSync(path.join(dir, "sub"));
    fs.writeFileSync(path.join(dir, "a.txt"), "a");
    fs.writeFileSync(path.join(dir, "sub", "b.txt"), "b");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("lists files sorted by POSIX path with size and sha256", () => {
    const { files } = hashFolder(dir);
    assert.deepStrictEqual(files.map((f) => [f.path, f.size]), [["a.txt", 1], ["sub/b.txt", 1]]);
    assert.strictEqual(files[0].sha256, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
  });

  it("changes with content, names and presence, not with timestamps or caches", () => {
    const h = hashFolder(dir).hash;
    fs.utimesSync(path.join(dir, "a.txt"), new Date(0), new Date(0));
    fs.mkdirSync(path.join(dir, "__pycache__"));
    fs.writeFileSync(path.join(dir, "__pycache__", "x.cpython-311.pyc"), "x");
    fs.writeFileSync(path.join(dir, "y.pyc"), "y");
    fs.writeFileSync(path.join(dir, ".DS_Store"), "z");
    assert.strictEqual(hashFolder(dir).hash, h);
    fs.writeFileSync(path.join(dir, "a.txt"), "A");
    const h2 = hashFolder(dir).hash;
    assert.notStrictEqual(h2, h);
    fs.renameSync(path.join(dir, "a.txt"), path.join(dir, "c.txt"));
    assert.notStrictEqual(hashFolder(dir).hash, h2);
    fs.writeFileSync(path.join(dir, "empty"), "");
    assert.notStrictEqual(hashFolder(dir).hash, hashFolder(dir, { exclude: (p) => defaultExclude(p) || p === "empty" }).hash);
  });

  it("names a missing folder", () => {
    assert.throws(() => hashFolder(path.join(dir, "nope")), /nope: folder not found/);
  });
});
