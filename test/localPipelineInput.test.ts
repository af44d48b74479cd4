/** The up-front input folder check shared by local-run and the Azure invoke script. */
import assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkInputFolder, InputFolderError, readHeaderLine, REQUIRED_COLUMNS } from "../scripts/lib/local/inputFolder";
import { resolvePython } from "../scripts/lib/local/python";
import { COMPONENTS_DIR } from "../lib/componentYaml";

const HEADER = REQUIRED_COLUMNS.join(",");

describe("local input folder check", () => {
  let root: string;
  const folder = (name: string, files: Record<string, string>) => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), text);
    }
    return dir;
  };
  const problems = (dir: string): string[] => {
    try {
      checkInputFolder(dir);
    } catch (e) {
      assert.ok(e instanceof InputFolderError, String(e));
      return [...e.problems];
    }
    assert.fail(`${dir} was accepted`);
  };

  before(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), "heart-input-"))));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("the required columns are the ones the Python steps require", function () {
    for (const component of ["prepare", "score"]) {
      const src = path.join(COMPONENTS_DIR, component, "src");
      if (!fs.existsSync(path.join(src, "heart_features.py"))) {
        assert.ok(component === "score", `${src}/heart_features.py is missing`);
        continue;
      }
      const r = spawnSync(resolvePython(), ["-c", "import json, heart_features as h; print(json.dumps(h.REQUIRED))"], { cwd: src, encoding: "utf8" });
      assert.strictEqual(r.status, 0, r.stderr);
      assert.deepStrictEqual(JSON.parse(r.stdout), REQUIRED_COLUMNS, `${component}/src/heart_features.py REQUIRED`);
    }
  });

  it("accepts the sample data", () => {
    const r = checkInputFolder("data/unlabeled");
    assert.deepStrictEqual(r.csvFiles, ["heart.csv"]);
    assert.deepStrictEqual(r.skipped, []);
  });

  it("lists CSVs in sub-folders and the files the steps will skip, like csvfolder.py", () => {
    const dir = folder("mixed", {
      "b.csv": `${HEADER}\n`,
      "A.CSV": `\uFEFF"age",${REQUIRED_COLUMNS.slice(1).join(",")},extra\r\n1`,
      "sub/c.csv": `\n\n${HEADER}\n`,
      "notes.txt": "x",
      ".hidden.csv": "x",
      ".cache/x.csv": "x",
    });
    const r = checkInputFolder(dir);
    assert.deepStrictEqual(r.csvFiles, ["A.CSV", "b.csv", "sub/c.csv"]);
    assert.deepStrictEqual(r.skipped, [".cache/", ".hidden.csv", "notes.txt"]);
  });

  it("reads only the header line, so values are never looked at and large files cost nothing", () => {
    const dir = folder("big", { "big.csv": `${HEADER}\n` + "not,a,row,at,all\n".repeat(200_000) });
    const started = process.hrtime.bigint();
    checkInputFolder(dir);
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 1000, "invoke must refuse bad input in under a second");
    assert.strictEqual(readHeaderLine(path.join(dir, "big.csv")), HEADER);
  });

  it("refuses a missing folder, a file, an empty folder and a folder without CSV", () => {
    assert.match(problems(path.join(root, "nope"))[0], /input folder .*nope does not exist/);
    const file = path.join(folder("f", { "x.csv": HEADER }), "x.csv");
    assert.match(problems(file)[0], /is not a folder/);
    assert.match(problems(folder("empty", {}))[0], /input folder .*empty is empty/);
    assert.match(problems(folder("nocsv", { "a.txt": "x", "b.json": "{}" }))[0], /has no CSV file \(found a\.txt, b\.json\)/);
  });

  it("names every file with a bad header and what is wrong, all at once", () => {
    const dir = folder("bad", {
      "ok.csv": `${HEADER}\n`,
      "nothal.csv": `${REQUIRED_COLUMNS.filter((c) => c !== "thal").join(",")}\n`,
      "few.csv": "age,sex\n",
      "empty.csv": "",
      "dup.csv": `${HEADER},age,prediction\n`,
    });
    const p = problems(dir);
    assert.deepStrictEqual(p, [
      `${dir}/dup.csv: column name repeated in the header: age`,
      `${dir}/dup.csv: column 'prediction' is reserved for the scores: rename it`,
      `${dir}/empty.csv: is empty (expected a header line with the columns ${HEADER})`,
      `${dir}/few.csv: missing required columns cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal`,
      `${dir}/nothal.csv: missing required column thal`,
    ]);
  });
});
