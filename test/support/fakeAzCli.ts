/**
 * A stand-in `az` executable for subprocess tests: put `dir` first on PATH and set
 * AZURE_TOKEN_CREDENTIALS=AzureCliCredential, and the scripts' real DefaultAzureCredential chain gets its tokens
 * from `az account get-access-token --output json --resource R` as it does on a developer machine, without
 * IMDS probes or network. Tokens are test JWTs for audience R (test/support/tokens.ts shape). Every call is
 * appended to `logFile` (one JSON line: argv). Env FAKE_AZ_TOKEN_LIFETIME (seconds, may be negative for an
 * expired token) and FAKE_AZ_FAIL=login (answer as a signed-out CLI does) steer it per test.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface FakeAzCli {
  readonly dir: string;
  readonly logFile: string;
  /** Calls logged so far (argv after `az`). */
  calls(): string[][];
  /** PATH with the fake first. */
  readonly path: string;
  remove(): void;
}

const SCRIPT = (logFile: string) => `#!${process.execPath}
const fs = require("fs");
const argv = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(logFile)}, JSON.stringify(argv) + "\\n");
if (process.env.FAKE_AZ_FAIL === "login") {
  process.stderr.write("ERROR: Please run 'az login' to setup account.\\n");
  process.exit(1);
}
const i = argv.indexOf("--resource");
if (argv[0] !== "account" || argv[1] !== "get-access-token" || i < 0) {
  process.stderr.write("fake az: unsupported command: " + argv.join(" ") + "\\n");
  process.exit(2);
}
const resource = argv[i + 1].replace(/\\/+$/, "");
const lifetime = Number(process.env.FAKE_AZ_TOKEN_LIFETIME || 3600);
const now = Math.floor(Date.now() / 1000);
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const claims = { aud: resource, iss: "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/", iat: now - 60, nbf: now - 60,
  exp: now + lifetime, oid: "00000000-0000-0000-0000-0000000000aa", tid: "72f988bf-86f1-41af-91ab-2d7cd011db47", appid: "00000000-0000-0000-0000-0000000000bb" };
const token = b64({ alg: "none", typ: "JWT" }) + "." + b64(claims) + ".";
const expires = now + lifetime;
process.stdout.write(JSON.stringify({ accessToken: token, expires_on: expires, expiresOn: new Date(expires * 1000).toISOString().replace("T", " ").slice(0, 19) + ".000000",
  subscription: "00000000-0000-0000-0000-000000000001", tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", tokenType: "Bearer" }) + "\\n");
`;

export function makeFakeAzCli(): FakeAzCli {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-az-"));
  const logFile = path.join(dir, "calls.log");
  fs.writeFileSync(logFile, "");
  const bin = path.join(dir, "az");
  fs.writeFileSync(bin, SCRIPT(logFile), { mode: 0o755 });
  return {
    dir,
    logFile,
    path: `${dir}${path.delimiter}${process.env.PATH ?? ""}`,
    calls: () =>
      fs
        .readFileSync(logFile, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[]),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
