import assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { startAzurite, Azurite } from "./support/azurite";
import { TestTokenCredential } from "./support/tokens";
import { hashFolder } from "../lib/contentHash";
import { contentPath, uploadFolder, StorageAccessDeniedError, BlobTarget, accountNameOf } from "../lib/folderUpload";

function makeFolder(files: Record<string, string>, name = "my-model"): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "upload-"));
  const dir = path.join(root, name);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

async function listNames(container: ContainerClient, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const b of container.listBlobsFlat({ prefix })) names.push(b.name);
  return names.sort();
}

describe("folder upload (Azurite)", function () {
  let azurite: Azurite;
  let container: ContainerClient;
  let target: BlobTarget;
  const containerName = "azureml-blobstore-test";

  before(async () => {
    azurite = await startAzurite();
    const svc = new BlobServiceClient(azurite.blobEndpoint, new TestTokenCredential());
    container = svc.getContainerClient(containerName);
    await container.create();
    target = { blobServiceUrl: azurite.blobEndpoint, containerName, credential: new TestTokenCredential() };
  });
  after(async () => azurite && (await azurite.stop()));

  it("uploads every file under LocalUpload/<hash>/<folder> and marks the first file complete", async () => {
    const dir = makeFolder({ "MLmodel": "flavors: {}\n", "model.json": "{}", "sub/b.txt": "b", "__pycache__/x.pyc": "junk" });
    const { hash, files } = hashFolder(dir);
    const progress: number[] = [];
    const result = await uploadFolder(dir, target, { onProgress: (p) => progress.push(p.done) });
    assert.deepStrictEqual(result, { path: contentPath(hash, "my-model"), hash, uploaded: true, files: 3, bytes: files.reduce((n, f) => n + f.size, 0) });
    assert.strictEqual(result.path, `LocalUpload/${hash}/my-model`);
    assert.deepStrictEqual(await listNames(container, result.path), [`${result.path}/MLmodel`, `${result.path}/model.json`, `${result.path}/sub/b.txt`]);
    const text = (await container.getBlobClient(`${result.path}/sub/b.txt`).downloadToBuffer()).toString();
    assert.strictEqual(text, "b");
    const marker = await container.getBlobClient(`${result.path}/MLmodel`).getProperties();
    assert.deepStrictEqual(marker.metadata, { upload_status: "completed", name: "my-model", version: hash });
    const other = await container.getBlobClient(`${result.path}/model.json`).getProperties();
    assert.deepStrictEqual(other.metadata, {});
    assert.deepStrictEqual(progress.sort(), [1, 2, 3]);
  });

  it("skips a second upload of the same content", async () => {
    const dir = makeFolder({ "a.txt": "same", "b.txt": "content" });
    const first = await uploadFolder(dir, target);
    const before = await container.getBlobClient(`${first.path}/b.txt`).getProperties();
    const second = await uploadFolder(dir, target);
    assert.strictEqual(second.uploaded, false);
    assert.strictEqual(second.path, first.path);
    const after = await container.getBlobClient(`${first.path}/b.txt`).getProperties();
    assert.strictEqual(after.etag, before.etag, "no blob was rewritten");
  });

  it("re-uploads an interrupted (unmarked) upload", async () => {
    const dir = makeFolder({ "a.txt": "interrupted", "b.txt": "upload" });
    const { hash } = hashFolder(dir);
    const prefix = contentPath(hash, "my-model");
    // What an interrupted run leaves: the indicator written (no mark), b.txt missing.
    await container.getBlockBlobClient(`${prefix}/a.txt`).upload("partial", 7);
    const result = await uploadFolder(dir, target);
    assert.strictEqual(result.uploaded, true);
    assert.deepStrictEqual(await listNames(container, prefix), [`${prefix}/a.txt`, `${prefix}/b.txt`]);
    assert.strictEqual((await container.getBlobClient(`${prefix}/a.txt`).downloadToBuffer()).toString(), "interrupted");
    assert.strictEqual((await container.getBlobClient(`${prefix}/a.txt`).getProperties()).metadata?.upload_status, "completed");
  });

  it("gives a different path when a file changes", async () => {
    const dir = makeFolder({ "a.txt": "v1" });
    const first = await uploadFolder(dir, target);
    fs.writeFileSync(path.join(dir, "a.txt"), "v2");
    const second = await uploadFolder(dir, target);
    assert.notStrictEqual(second.path, first.path);
    assert.strictEqual(second.uploaded, true);
  });

  it("reports access denied with the account, container and role", async () => {
    const dir = makeFolder({ "a.txt": "denied" });
    const denied: BlobTarget = { ...target, credential: new TestTokenCredential(3600, "https://ml.azure.com") };
    await assert.rejects(uploadFolder(dir, denied), (e: Error) => {
      assert.ok(e instanceof StorageAccessDeniedError, String(e));
      assert.match(e.message, new RegExp(`storage account "${azurite.accountName}"`));
      assert.match(e.message, new RegExp(`container "${containerName}"`));
      assert.match(e.message, /Storage Blob Data Contributor/);
      assert.doesNotMatch(e.message, /eyJ/, "no token in the message");
      return true;
    });
  });

  it("refuses an empty folder", async () => {
    const dir = makeFolder({});
    fs.mkdirSync(dir, { recursive: true });
    await assert.rejects(uploadFolder(dir, target), /no files to upload/);
  });

  it("derives the account name from Azure and Azurite URLs", () => {
    assert.strictEqual(accountNameOf("https://mystore.blob.core.windows.net"), "mystore");
    assert.strictEqual(accountNameOf("https://127.0.0.1:10000/devstoreaccount1"), "devstoreaccount1");
  });

  it("does not mark an upload complete when a streamed file changes before it is sent", async () => {
    // b.bin is above the in-memory size, so it is read again for the upload and hashed on the way out.
    const big = Buffer.alloc(2 << 20, 1);
    const dir = makeFolder({ "a.txt": "first" }, "moving");
    fs.writeFileSync(path.join(dir, "b.bin"), big);
    const { hash } = hashFolder(dir);
    await assert.rejects(
      uploadFolder(dir, target, { concurrency: 1, onProgress: (p) => p.done === 1 && fs.writeFileSync(path.join(dir, "b.bin"), Buffer.alloc(2 << 20, 2)) }),
      /files changed during the upload \(b\.bin\); it was not marked complete/,
    );
    const marker = await container.getBlobClient(`${contentPath(hash, "moving")}/a.txt`).getProperties();
    assert.strictEqual(marker.metadata?.upload_status, undefined);
    // The next run hashes the folder as it is now: another path, complete, with the new bytes.
    const again = await uploadFolder(dir, target);
    assert.notStrictEqual(again.hash, hash);
    assert.ok((await container.getBlobClient(`${again.path}/b.bin`).downloadToBuffer()).equals(Buffer.alloc(2 << 20, 2)));
  });

  it("a small file edited after it was read still uploads the bytes its content address names", async () => {
    const dir = makeFolder({ "a.txt": "first", "b.txt": "second" }, "edited");
    const { hash } = hashFolder(dir);
    const r = await uploadFolder(dir, target, { concurrency: 1, onProgress: (p) => p.done === 1 && fs.writeFileSync(path.join(dir, "b.txt"), "edited") });
    assert.strictEqual(r.hash, hash);
    assert.strictEqual((await container.getBlobClient(`${r.path}/b.txt`).downloadToBuffer()).toString(), "second");
    assert.strictEqual((await container.getBlobClient(`${r.path}/a.txt`).getProperties()).metadata?.upload_status, "completed");
  });

  it("hashes as lib/contentHash does, for small and large files, and uploads every byte", async () => {
    const dir = makeFolder({ "s/small.csv": "x".repeat(1000) }, "mixed");
    const large = Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => i % 251));
    fs.writeFileSync(path.join(dir, "large.bin"), large);
    const r = await uploadFolder(dir, target);
    assert.strictEqual(r.hash, hashFolder(dir).hash);
    assert.ok((await container.getBlobClient(`${r.path}/large.bin`).downloadToBuffer()).equals(large));
    assert.strictEqual((await container.getBlobClient(`${r.path}/s/small.csv`).downloadToBuffer()).toString(), "x".repeat(1000));
  });
});

