/**
 * The invocation marker: one small JSON blob per invocation, `invocations/<id>.json` in the workspace's default
 * datastore container, written by invoke itself (so its existence is certain, unlike anything the service may
 * or may not copy onto the job):
 *   - before the request is sent: { state: "sending", sentAt }  → a re-run knows a job may exist, and since when;
 *   - once the answer names the job: { state: "created", jobName } → a re-run GETs that job, nothing is listed.
 * No marker means this invocation id never reached the sending step. It lives outside scores/<id>/, so `pull`
 * (which copies that folder) never downloads it.
 */
import type { TokenCredential } from "@azure/core-auth";
import { BlobServiceClient, ContainerClient } from "@azure/storage-blob";
import { cloudFromEnv } from "../../../lib/cloud";

export interface InvocationMarker {
  readonly invocationId: string;
  readonly state: "sending" | "created";
  /** When this tool was about to send the request (ISO 8601, local clock): no job of this invocation is older. */
  readonly sentAt: string;
  readonly jobName?: string;
}

export interface MarkerStore {
  read(invocationId: string, signal?: AbortSignal): Promise<InvocationMarker | undefined>;
  write(marker: InvocationMarker, signal?: AbortSignal): Promise<void>;
  /** Where the marker of this id is, for messages. */
  where(invocationId: string): string;
}

export function markerPath(invocationId: string): string {
  return `invocations/${invocationId}.json`;
}

/** Parses a marker blob's text; undefined when it is not one (foreign or damaged blobs are ignored, not trusted). */
export function parseMarker(text: string, invocationId: string): InvocationMarker | undefined {
  let m: Partial<InvocationMarker>;
  try {
    m = JSON.parse(text) as Partial<InvocationMarker>;
  } catch {
    return undefined;
  }
  if (m?.invocationId !== invocationId || (m.state !== "sending" && m.state !== "created") || typeof m.sentAt !== "string" || Number.isNaN(Date.parse(m.sentAt))) return undefined;
  if (m.state === "created" && (typeof m.jobName !== "string" || !m.jobName)) return undefined;
  return { invocationId, state: m.state, sentAt: m.sentAt, ...(m.jobName ? { jobName: m.jobName } : {}) };
}

export function blobMarkerStore(target: { blobServiceUrl: string; containerName: string; credential: TokenCredential; datastoreName?: string }): MarkerStore {
  let container: ContainerClient | undefined;
  const c = () => (container ??= new BlobServiceClient(target.blobServiceUrl, target.credential, { audience: cloudFromEnv().storageScope, retryOptions: { maxTries: 4, retryDelayInMs: 500 } }).getContainerClient(target.containerName));
  return {
    async read(id, signal) {
      try {
        const buf = await c().getBlockBlobClient(markerPath(id)).downloadToBuffer(undefined, undefined, { abortSignal: signal });
        return parseMarker(buf.toString("utf8"), id);
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return undefined;
        throw e;
      }
    },
    async write(marker, signal) {
      const text = JSON.stringify(marker);
      await c().getBlockBlobClient(markerPath(marker.invocationId)).upload(text, Buffer.byteLength(text), {
        blobHTTPHeaders: { blobContentType: "application/json" },
        abortSignal: signal,
      });
    },
    where: (id) => `${target.datastoreName ?? target.containerName}/${markerPath(id)}`,
  };
}
