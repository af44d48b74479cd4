/** Where pull reads from: a blob folder (Azure ML datastore) or a local folder (the local runner's output). */
import type { TokenCredential } from "@azure/core-auth";
import { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { cloudFromEnv } from "../../../lib/cloud";
import * as crypto from "crypto";
import * as fs from "fs";
import { pipeline } from "stream/promises";
import * as path from "path";
import { md5File, PullSource, SourceFile } from "./pullFiles";

/** Bytes the local file stream buffers before it pauses the download. */
const WRITE_BUFFER_BYTES = 1 << 20;

export function blobFolderSource(
  target: { blobServiceUrl: string; containerName: string; prefix: string; credential: TokenCredential },
  opts: { maxRetryRequests?: number } = {},
): PullSource & { container: ContainerClient } {
  const container = new BlobServiceClient(target.blobServiceUrl, target.credential, { audience: cloudFromEnv().storageScope, retryOptions: { maxTries: 6, retryDelayInMs: 500 } }).getContainerClient(target.containerName);
  const prefix = target.prefix.endsWith("/") || target.prefix === "" ? target.prefix : `${target.prefix}/`;
  return {
    container,
    describe: `${target.blobServiceUrl}/${target.containerName}/${prefix}`,
    async list(signal) {
      const out: SourceFile[] = [];
      for await (const b of container.listBlobsFlat({ prefix, abortSignal: signal })) {
        if (b.name.endsWith("/") || b.metadata?.hdi_isfolder === "true") continue;
        const md5 = b.properties.contentMD5 ? Buffer.from(b.properties.contentMD5).toString("base64") : undefined;
        out.push({ name: b.name.slice(prefix.length), size: b.properties.contentLength ?? 0, md5 });
      }
      return out;
    },
    async download(file, dest, signal) {
      // The body stream resumes a response cut mid-way (maxRetryRequests) from where it stopped. The MD5 is
      // computed on the chunks as they pass (a second 'data' listener beside the pipe, no extra stream step), and
      // the file stream buffers up to 1 MiB before it pushes back: with Node's default 16 KiB the response is
      // paused every few chunks, which made the pull 0.7x a plain SDK download (bench/scripts.ts).
      const res = await container.getBlobClient(prefix + file.name).download(0, undefined, { abortSignal: signal, maxRetryRequests: opts.maxRetryRequests ?? 5 });
      const body = res.readableStreamBody!;
      const hash = crypto.createHash("md5");
      let bytes = 0;
      const done = pipeline(body, fs.createWriteStream(dest, { flags: "wx", highWaterMark: WRITE_BUFFER_BYTES }), { signal });
      body.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      await done;
      return { md5: hash.digest("base64"), bytes };
    },
  };
}

export function localFolderSource(folder: string): PullSource {
  const root = path.resolve(folder);
  return {
    describe: root,
    async list() {
      const out: SourceFile[] = [];
      const walk = async (dir: string, rel: string) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
          const abs = path.join(dir, e.name);
          const name = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) await walk(abs, name);
          else if (e.isFile()) out.push({ name, size: fs.statSync(abs).size, md5: await md5File(abs) });
        }
      };
      if (fs.existsSync(root)) await walk(root, "");
      return out.sort((a, b) => (a.name < b.name ? -1 : 1));
    },
    async download(file, dest) {
      await fs.promises.copyFile(path.join(root, ...file.name.split("/")), dest, fs.constants.COPYFILE_EXCL);
      return {};
    },
  };
}
