/**
 * The Node input check and the Python prepare step agree: the same bad files are refused by both (the step
 * with exit 2), and the same good and odd files pass both. The step runs as its plain CLI, every case in one
 * Python process (runpy), so pandas and scikit-learn are imported once.
 */
import assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { COMPONENTS_DIR } from "../lib/componentYaml";
import { checkInputCells, InputCheckError, InputFolderError } from "../scripts/lib/input/checkInput";
import { NUMERIC_COLUMNS } from "../scripts/lib/input/schema";
import { REQUIRED_COLUMNS } from "../scripts/lib/local/inputFolder";
import { resolvePython } from "../scripts/lib/local/python";
import { NUMERIC_ACCEPTED, NUMERIC_REFUSED } from "./inputCheck.test";

const ROOT = path.resolve(__dirname, "..");
const PREPARE_SRC = path.join(COMPONENTS_DIR, "prepare", "src");
const HEADER = REQUIRED_COLUMNS.join(",");
const ROW = "63,1,1,145,233,1,2,150,0,2.3,3,0,fixed";

/** The sample row with one numeric cell replaced (CSV-quoted when it needs it). */
function withCell(column: string, value: string): string {
  const cells = ROW.split(",");
  cells[REQUIRED_COLUMNS.indexOf(column)] = /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
  return cells.join(",");
}

const BAD: Record<string, Record<string, string | Buffer>> = {
  "word in age": { "a.csv": `${HEADER}\n${ROW}\n${withCell("age", "sixty")}\n` },
  "inf in chol": { "a.csv": `${HEADER}\n${withCell("chol", "inf")}\n` },
  "overflow in oldpeak": { "a.csv": `${HEADER}\n${withCell("oldpeak", "1e400")}\n` },
  "decimal comma in oldpeak": { "a.csv": `${HEADER}\n${withCell("oldpeak", "2,3")}\n` },
  "bad cell in the second file": { "a.csv": `${HEADER}\n${ROW}\n`, "sub/b.csv": `${HEADER}\n${ROW}\n${withCell("ca", "n/a")}\n` },
  "bad cell after 100,000 rows": { "a.csv": `${HEADER}\n${`${ROW}\n`.repeat(100_001)}${withCell("thalach", "x")}\n` },
  "more fields than the header": { "a.csv": `${HEADER}\n${ROW},extra\n` },
  "a later row wider than the first": { "a.csv": `${HEADER}\n${ROW}\n${ROW},\n` },
  "a value after trailing commas": { "a.csv": `${HEADER}\n${ROW},\n${ROW},7\n` },
  "unclosed quote": { "a.csv": `${HEADER}\n${ROW}\n63,"1,1,145\n` },
  "not UTF-8": { "a.csv": Buffer.concat([Buffer.from(`${HEADER}\n${ROW.replace("fixed", "fix")}`), Buffer.from([0xe9, 0x0a])]) },
  "reserved column prediction": { "a.csv": `${HEADER},prediction\n${ROW},1\n` },
  "reserved feature column": { "a.csv": `${HEADER},cat__thal\n${ROW},1\n` },
  "missing column": { "a.csv": `${REQUIRED_COLUMNS.slice(1).join(",")}\n${ROW.slice(3)}\n` },
  "repeated column": { "a.csv": `${HEADER},age\n${ROW},1\n` },
  "empty column name": { "a.csv": `${HEADER},\n${ROW},1\n` },
  "whitespace line before the header": { "a.csv": `  \n${HEADER}\n${ROW}\n` },
  ...Object.fromEntries(NUMERIC_REFUSED.map((v, k) => [`numeric cell refused #${k} ${JSON.stringify(v).slice(0, 20)}`, { "a.csv": `${HEADER}\n${withCell(NUMERIC_COLUMNS[k % NUMERIC_COLUMNS.length], v)}\n` }])),
};

const GOOD: Record<string, Record<string, string | Buffer> | string> = {
  "data/unlabeled": "data/unlabeled",
  "data/edge-cases": "data/edge-cases",
  "BOM, CRLF, blank and whitespace lines": { "a.csv": `\ufeff${HEADER}\r\n${ROW}\r\n\r\n \t \r\n${ROW}\r\n` },
  "CR line ends, no final line break": { "a.csv": `${HEADER}\r${ROW}\r${ROW}` },
  "quoted cells, escaped quotes, a line break in a quoted extra column": { "a.csv": `${HEADER},note\n"63",1,1," 145 ",233,1,2,150,0,"2.3",3,"",fixed,"a ""b"",\nc"\n` },
  "short rows and empty cells": { "a.csv": `${HEADER}\n63\n,,,,\n,\n` },
  "trailing commas on the first row": { "a.csv": `${HEADER}\n${ROW},\n${ROW},\n${ROW}\n` },
  "unicode spaces around numbers": { "a.csv": `${HEADER}\n\u00a063\u2003,1,1, 145,233 ,1,2,150,0,-.5e1,3,1e-400,fixed\n` },
  "header only": { "a.csv": `\n${HEADER}\n` },
  "odd categorical values": { "a.csv": `${HEADER}\n63,male,0,145,233,yes,"2,0",150,no,2.3,up,0,"it's ""fixed"""\n` },
  ...Object.fromEntries(NUMERIC_ACCEPTED.map((v, k) => [`numeric cell accepted #${k} ${JSON.stringify(v).slice(0, 20)}`, { "a.csv": `${HEADER}\n${withCell(NUMERIC_COLUMNS[k % NUMERIC_COLUMNS.length], v)}\n` }])),
};

/** Runs prepare.py's CLI on each folder in one interpreter; returns each folder's exit code and stderr. */
function runPrepare(folders: string[], work: string): Array<{ code: number; stderr: string }> {
  const driver = `
import contextlib, io, json, os, runpy, sys
src, transformations, folders, out = sys.argv[1:5]
sys.path.insert(0, src)
results = []
for i, data in enumerate(json.loads(folders)):
    err = io.StringIO()
    sys.argv = ["prepare.py", "--data", data, "--transformations", transformations, "--prepared_data", os.path.join(out, str(i))]
    code = 0
    with contextlib.redirect_stderr(err):
        try:
            runpy.run_path(os.path.join(src, "prepare.py"), run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    results.append({"code": code, "stderr": err.getvalue()})
print(json.dumps(results))
`;
  const args = [PREPARE_SRC, path.join(ROOT, "models", "heart-classifier-transforms"), JSON.stringify(folders), work];
  const r = spawnSync(resolvePython(), ["-c", driver, ...args], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  assert.strictEqual(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

async function nodeVerdict(dir: string): Promise<{ refused: boolean; problems: string[] }> {
  try {
    await checkInputCells(dir);
    return { refused: false, problems: [] };
  } catch (e) {
    if (e instanceof InputCheckError || e instanceof InputFolderError) return { refused: true, problems: [...e.problems] };
    throw e;
  }
}

describe("input check parity: the Node check and the Python prepare step refuse and accept the same files", function () {
  this.timeout(180_000);
  let work: string;
  const dirs: Record<string, string> = {};
  let python: Record<string, { code: number; stderr: string }> = {};

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "heart-parity-"));
    let n = 0;
    for (const [name, files] of [...Object.entries(BAD), ...Object.entries(GOOD)]) {
      if (typeof files === "string") {
        dirs[name] = path.join(ROOT, files);
        continue;
      }
      const dir = path.join(work, "in", String(n++));
      for (const [f, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        fs.writeFileSync(path.join(dir, f), text);
      }
      dirs[name] = dir;
    }
    const names = Object.keys(dirs);
    const results = runPrepare(names.map((k) => dirs[k]), path.join(work, "out"));
    python = Object.fromEntries(names.map((k, i) => [k, results[i]]));
  });

  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it("the numeric columns are heart_features.CONTINUOUS", () => {
    const r = spawnSync(resolvePython(), ["-c", "import json, heart_features as h; print(json.dumps(h.CONTINUOUS))"], { cwd: PREPARE_SRC, encoding: "utf8" });
    assert.strictEqual(r.status, 0, r.stderr);
    assert.deepStrictEqual(JSON.parse(r.stdout), NUMERIC_COLUMNS);
  });

  it("every bad file: refused by both, the step with exit 2; both name the same file", async () => {
    const disagree: string[] = [];
    for (const name of Object.keys(BAD)) {
      const node = await nodeVerdict(dirs[name]);
      const py = python[name];
      if (!node.refused || py.code !== 2) {
        disagree.push(`${name}: node ${node.refused ? "refused" : "accepted"}, prepare exit ${py.code}: ${py.stderr.trim().split("\n").pop()}`);
        continue;
      }
      const file = /([\w-]+\/)?\w+\.csv/.exec(py.stderr.match(/prepare: error: (.*)/)?.[1] ?? "")?.[0];
      if (file && !node.problems.some((p) => p.includes(file))) disagree.push(`${name}: prepare names ${file}, node says ${node.problems.join(" | ")}`);
    }
    assert.deepStrictEqual(disagree, []);
  });

  it("every good or odd file: accepted by both", async () => {
    const disagree: string[] = [];
    for (const name of Object.keys(GOOD)) {
      const node = await nodeVerdict(dirs[name]);
      const py = python[name];
      if (node.refused || py.code !== 0) disagree.push(`${name}: node ${node.refused ? `refused (${node.problems.join(" | ")})` : "accepted"}, prepare exit ${py.code}: ${py.stderr.trim().split("\n").pop()}`);
    }
    assert.deepStrictEqual(disagree, []);
  });
});
