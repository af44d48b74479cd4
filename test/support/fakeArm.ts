/**
 * A small fake of Azure Resource Manager for the stack's dynamic providers: HTTPS on 127.0.0.1 (the test
 * certificate of test/run-all.sh), every request recorded (method, path, api-version, the bearer token's
 * audience, JSON body), a 401 for a token not meant for ARM, and the answer left to a per-test handler that
 * speaks the documented shapes of the resource it fakes.
 */
import * as https from "https";
import type { AddressInfo } from "net";
import { testTls } from "./tls";
import { decodeJwt } from "./tokens";

export const ARM_AUDIENCE = "https://management.azure.com";

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly apiVersion: string | null;
  readonly audience: unknown;
  readonly body?: any;
}

export interface FakeAnswer {
  readonly status: number;
  readonly body?: unknown;
}

export type ArmHandler = (req: SeenRequest) => FakeAnswer;

/** ARM's error body: `{"error": {"code", "message"}}`. */
export function armError(status: number, code: string, message: string): FakeAnswer {
  return { status, body: { error: { code, message } } };
}

export class FakeArm {
  readonly seen: SeenRequest[] = [];
  url = "";
  private server?: https.Server;

  constructor(private readonly handler: ArmHandler) {}

  async start(): Promise<void> {
    const tls = testTls();
    this.server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      let text = "";
      req.on("data", (d) => (text += d));
      req.on("end", () => {
        const url = new URL(req.url!, "https://x");
        const auth = req.headers.authorization ?? "";
        const seen: SeenRequest = {
          method: req.method!,
          path: url.pathname,
          apiVersion: url.searchParams.get("api-version"),
          audience: auth.startsWith("Bearer ") ? decodeJwt(auth.slice(7)).aud : undefined,
          body: text ? JSON.parse(text) : undefined,
        };
        this.seen.push(seen);
        const answer = seen.audience === ARM_AUDIENCE ? this.handler(seen) : armError(401, "InvalidAuthenticationToken", "wrong audience");
        res.writeHead(answer.status, answer.body === undefined ? {} : { "content-type": "application/json" });
        res.end(answer.body === undefined ? undefined : JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", () => r()));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
