/**
 * Starts Azurite's blob service (a real Azure Storage server) for a test run: HTTPS with the test
 * certificate, OAuth "basic" so Entra-style bearer tokens work as they do against Azure, an in-memory
 * store, on a free loopback port. `stop()` ends it.
 */
import { ChildProcess, spawn } from "child_process";
import * as net from "net";
import { testTls } from "./tls";

export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface Azurite {
  /** Blob service URL of the test account, e.g. https://127.0.0.1:PORT/devstoreaccount1 */
  readonly blobEndpoint: string;
  readonly port: number;
  readonly accountName: string;
  /** A connection string with the account key, for test set-up and inspection only. */
  readonly connectionString: string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`Azurite exited with code ${child.exitCode} before listening`));
      const sock = net.connect(port, "127.0.0.1");
      sock.once("connect", () => {
        sock.destroy();
        resolve();
      });
      sock.once("error", () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`Azurite did not listen on port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

export async function startAzurite(): Promise<Azurite> {
  const tls = testTls();
  const port = await freePort();
  const bin = require.resolve("azurite/dist/src/blob/main.js");
  const child = spawn(
    process.execPath,
    [
      bin,
      "--blobHost", "127.0.0.1",
      "--blobPort", String(port),
      "--inMemoryPersistence",
      "--silent",
      "--skipApiVersionCheck",
      "--loose",
      "--disableTelemetry",
      "--disableProductStyleUrl",
      "--oauth", "basic",
      "--cert", tls.certFile,
      "--key", tls.keyFile,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d) => (stderr += d));
  try {
    await waitForPort(port, child, 20000);
  } catch (e) {
    child.kill("SIGKILL");
    throw new Error(`${(e as Error).message}\n${stderr}`);
  }
  const blobEndpoint = `https://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    blobEndpoint,
    port,
    accountName: AZURITE_ACCOUNT,
    connectionString: `DefaultEndpointsProtocol=https;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => {
          resolve();
        });
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 3000).unref();
      }),
  };
}
