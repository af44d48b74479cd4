import assert from "assert";
import { BlobServiceClient } from "@azure/storage-blob";
import { startAzurite, Azurite } from "./support/azurite";
import { TestTokenCredential } from "./support/tokens";

describe("test support: Azurite", function () {
  let azurite: Azurite;
  before(async () => (azurite = await startAzurite()));
  after(async () => azurite && (await azurite.stop()));

  it("accepts an Entra-style bearer token over HTTPS and round-trips a blob", async () => {
    const svc = new BlobServiceClient(azurite.blobEndpoint, new TestTokenCredential());
    const container = svc.getContainerClient("smoke");
    await container.create();
    await container.getBlockBlobClient("a/b.txt").upload("hello", 5);
    const text = (await container.getBlobClient("a/b.txt").downloadToBuffer()).toString();
    assert.strictEqual(text, "hello");
  });

  it("refuses a token for another audience", async () => {
    const svc = new BlobServiceClient(azurite.blobEndpoint, new TestTokenCredential(3600, "https://ml.azure.com"));
    await assert.rejects(svc.getContainerClient("smoke2").create(), (e: { statusCode?: number }) => e.statusCode === 401 || e.statusCode === 403);
  });
});
