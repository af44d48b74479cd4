/**
 * The throw-away certificate test/run-all.sh makes for localhost/127.0.0.1 and trusts through
 * NODE_EXTRA_CA_CERTS. Azurite and the fake Azure ML service serve HTTPS with it, because the Azure SDKs
 * refuse to send bearer tokens over plain HTTP.
 */
import * as fs from "fs";

export interface TestTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

export function testTls(): TestTls {
  const certFile = process.env.HEART_TEST_TLS_CERT;
  const keyFile = process.env.HEART_TEST_TLS_KEY;
  if (!certFile || !keyFile || process.env.NODE_EXTRA_CA_CERTS !== certFile) {
    throw new Error(
      "These tests need the test certificate that test/run-all.sh makes: run them with `npm test` " +
        "(or `npm test -- --grep <pattern>` for a subset).",
    );
  }
  return { certFile, keyFile, cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8") };
}
