/**
 * The every-cell input check (scripts/lib/input): the numeric grammar, the CSV structure rules, messages that
 * name file, row, line, column and value, and reads cut at any byte giving the same verdicts.
 * test/inputCheck.parity.test.ts runs the same kinds of files through the Python prepare step.
 */
import assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { acceptsNumericText, numericBytesOk, pyRepr } from "../scripts/lib/input/numeric";
import { checkCsvFile, checkInputCells, InputCheckError, InputFolderError } from "../scripts/lib/input/checkInput";
import { CsvCellChecker } from "../scripts/lib/input/csvCells";
import { pipelineColumnRules, signatureInputNames } from "../scripts/lib/input/schema";
import { REQUIRED_COLUMNS } from "../scripts/lib/local/inputFolder";

const HEADER = REQUIRED_COLUMNS.join(",");
const ROW = "63,1,1,145,233,1,2,150,0,2.3,3,0,fixed";
const rules = pipelineColumnRules();

/** Numeric cells pandas.to_numeric accepts (as heart_features uses it) and refuses: probed on pandas 1.5.3. */
export const NUMERIC_ACCEPTED = ["1", "1.5", " 1", "+1", "-1", ".5", "5.", "1e5", "1E5", "1e+5", "1e-5", "1e-400", "99999999999999999999999", "\u00a012", "12\u2003", "-.5", "+.5e3", "0001", "0.", "00.00e00", "1.7976931348623157e308", "4.9e-324", "   ", "", "-0", "\x1f7\x1c"];
export const NUMERIC_REFUSED = ["sixty", "1e", "e5", "1.2.3", "0x10", "1_000", "1,000", "nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1.7976931348623159e308", "1.7976931348623158e308", "2e308", "1d5", "\u0661\u0662", "\uff11\uff12", "--1", "+-1", "+", "-", ".", "1 2", "True", "1.0e", "1e+", "NA", "null", "None", "0x1p3", "1f", "5L", "1j", "\ufeff1", "9".repeat(400)];

describe("input check: every cell, as the prepare step reads it", () => {
  let root: string;
  const folder = (name: string, files: Record<string, string | Buffer>) => {
    const dir = path.join(root, name);
    for (const [f, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), text);
    }
    return dir;
  };
  const refusal = async (dir: string): Promise<string[]> => {
    try {
      await checkInputCells(dir);
    } catch (e) {
      assert.ok(e instanceof InputCheckError || e instanceof InputFolderError, String(e));
      return [...e.problems];
    }
    assert.fail(`${dir} was accepted`);
  };

  before(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), "heart-cells-"))));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("numeric cells: the fast byte path never accepts what the exact path refuses", () => {
    for (const v of NUMERIC_ACCEPTED) assert.ok(acceptsNumericText(v), `should accept ${pyRepr(v)}`);
    for (const v of NUMERIC_REFUSED) {
      assert.ok(!acceptsNumericText(v), `should refuse ${pyRepr(v)}`);
      const b = Buffer.from(v);
      assert.ok(!numericBytesOk(b, 0, b.length), `fast path must not accept ${pyRepr(v)}`);
    }
  });

  it("values are quoted like Python's repr, as the step prints them", () => {
    assert.strictEqual(pyRepr("sixty"), "'sixty'");
    assert.strictEqual(pyRepr("it's"), `"it's"`);
    assert.strictEqual(pyRepr("a\tb\\"), "'a\\tb\\\\'");
  });

  it("the reserved names are prediction and the classifier's signature inputs (read, not retyped)", () => {
    const names = signatureInputNames();
    assert.strictEqual(names.length, 13);
    assert.ok(names.every((n) => /^(num|cat)__/.test(n)), names.join(","));
    assert.deepStrictEqual(rules.reserved, ["prediction", ...names]);
    assert.deepStrictEqual(signatureInputNames(path.join(root, "no-models")), []);
  });

  it("good and odd files pass: the samples, edge cases, quotes, CRLF, CR, BOM, blank lines, short rows, trailing commas", async () => {
    for (const d of ["data/unlabeled", "data/edge-cases", "data/train"]) await checkInputCells(d);
    const dir = folder("odd", {
      "crlf.csv": `\ufeff${HEADER}\r\n${ROW}\r\n\r\n   \t\r\n${ROW}\r\n`,
      "cr.csv": `${HEADER}\r${ROW}\r${ROW}`,
      "quoted.csv": `${HEADER},note\n"63",1,1," 145 ",233,1,2,150,0,"2.3",3,"",fixed,"a ""b"",\nc"\n`,
      "short.csv": `${HEADER}\n63\n,,,,\n,\n`,
      "trailing.csv": `${HEADER}\n${ROW},\n${ROW},\n${ROW}\n`,
      "spaces.csv": `${HEADER}\n\u00a063\u2003,1,1, 145,233 ,1,2,150,0,-.5e1,3,1e-400,fixed\n`,
      "header-only.csv": `\n\n${HEADER}\n`,
      "sub/nested.csv": `${HEADER}\n${ROW}\n`,
    });
    const r = await checkInputCells(dir);
    assert.deepStrictEqual(
      Object.fromEntries(r.files.map((f) => [path.relative(dir, f.file), f.rows])),
      { "cr.csv": 2, "crlf.csv": 2, "header-only.csv": 0, "quoted.csv": 1, "short.csv": 3, "spaces.csv": 1, "sub/nested.csv": 1, "trailing.csv": 3 },
    );
  });

  it("a bad cell is named by file, column, data row, line and value; every file's problems are listed at once", async () => {
    const dir = folder("bad-cells", {
      "a.csv": `${HEADER}\n${ROW}\n\n${ROW.replace(/^63/, "sixty")}\n`,
      "b.csv": `${HEADER}\n${ROW.replace(",233,", ",1e999,")}\n${ROW.replace(",2.3,", ',"2,3",')}\n`,
      "c.csv": `${HEADER}\n${ROW}\n`,
    });
    const p = await refusal(dir);
    assert.deepStrictEqual(p, [
      `${dir}/a.csv: column 'age' must be numeric, but data row 2 holds 'sixty' (line 4; empty cells are allowed and count as missing)`,
      `${dir}/b.csv: column 'chol' must be numeric, but data row 1 holds '1e999' (line 2; empty cells are allowed and count as missing)`,
      `${dir}/b.csv: column 'oldpeak' must be numeric, but data row 2 holds '2,3' (line 3; empty cells are allowed and count as missing)`,
    ]);
  });

  it("structure: more fields than the header, a value after a trailing comma, an unclosed quote, bytes that are not UTF-8", async () => {
    const cases: Array<[string, string | Buffer, RegExp]> = [
      ["wide-first.csv", `${HEADER}\n${ROW},x\n`, /data row 1 \(line 2\) has a value after the header's last column/],
      ["wider-first.csv", `${HEADER}\n${ROW},,\n`, /data row 1 \(line 2\) has 15 fields, more than the 13 columns of the header/],
      ["wide-later.csv", `${HEADER}\n${ROW}\n${ROW},\n`, /data row 2 \(line 3\) has 14 fields, more than the 13 of the first data row/],
      ["trailing-then-value.csv", `${HEADER}\n${ROW},\n${ROW},7\n`, /data row 2 \(line 3\) has a value after the header's last column/],
      ["open-quote.csv", `${HEADER}\n${ROW}\n63,"1,1\n`, /a quoted field opened on line 3 is never closed/],
      ["latin1.csv", Buffer.concat([Buffer.from(`${HEADER}\n${ROW.replace("fixed", "fix")}`), Buffer.from([0xe9]), Buffer.from("\n")]), /not UTF-8 text \(byte 0xe9 at byte offset \d+\)/],
      ["reserved.csv", `${HEADER},num__age\n${ROW},1\n`, /column name num__age reserved for the pipeline's output/],
      ["quoted-comma-header.csv", `"age,sex",${REQUIRED_COLUMNS.slice(2).join(",")}\n`, /missing required columns age, sex/],
    ];
    for (const [name, text, message] of cases) {
      const dir = folder(`structure-${name}`, { [name]: text });
      const p = await refusal(dir);
      assert.strictEqual(p.length, 1, `${name}: ${p.join("\n")}`);
      assert.match(p[0], message, name);
      assert.ok(p[0].startsWith(path.join(dir, name)), p[0]);
    }
  });

  it("a record that never ends (a quote left open early in a big file) is refused at the record limit, not held whole", async () => {
    const file = path.join(folder("runaway", { "r.csv": `${HEADER}\n${ROW}\n63,"${"x".repeat(5000)}\n${ROW}\n` }), "r.csv");
    const r = await checkCsvFile(file, "r.csv", rules, { chunkBytes: 256, maxRecordBytes: 1024 });
    assert.deepStrictEqual(r.problems, ["r.csv: data row 2 (line 3) runs past 1024 bytes without ending: is a quote left open?"]);
    const whole = await checkCsvFile(file, "r.csv", rules);
    assert.match(whole.problems.join("\n"), /a quoted field opened on line 3 is never closed/);
  });

  it("problems past five per file are counted, not listed", async () => {
    const rows = Array.from({ length: 9 }, () => ROW.replace(/^63/, "x")).join("\n");
    const p = await refusal(folder("many", { "m.csv": `${HEADER}\n${rows}\n` }));
    assert.strictEqual(p.length, 6);
    assert.match(p[5], /… and 4 more problem\(s\) in this file/);
  });

  it("the same verdicts whatever the read size: records, quotes, CRLF and UTF-8 cut at every byte", async () => {
    const text = `\ufeff${HEADER},note\r\n\r\n${ROW},"é, ""q""\r\nline"\r\n  \r\n${ROW.replace(/^63/, "sixty")},ü\r${ROW.replace(",233,", ',"2 33",')},x\n${ROW},"${"long ".repeat(40)}"`;
    const file = path.join(folder("chunks", { "c.csv": text }), "c.csv");
    const whole = await checkCsvFile(file, "c.csv", rules);
    assert.strictEqual(whole.rows, 4);
    assert.strictEqual(whole.problems.length, 2, whole.problems.join("\n"));
    for (const size of [1, 2, 3, 5, 7, 16, 33, 64, 100]) {
      const cut = await checkCsvFile(file, "c.csv", rules, { chunkBytes: size });
      assert.deepStrictEqual(cut, whole, `chunkBytes ${size}`);
    }
  });

  it("never reads past the bytes it was given: whatever lies after `end` in a reused buffer changes nothing", () => {
    // The file reader reuses one buffer, so the bytes after `end` are left over from earlier reads. A file ending
    // in a closing quote, or in a lone \r, must get the same verdict whatever follows it there.
    const endings = [`${ROW},"note"`, `${ROW},"a ""b"""`, `${ROW}\r`, `${ROW}\r\r`, `${ROW},"x"\r`];
    for (const ending of endings) {
      const data = Buffer.from(`${HEADER},note\n${ROW},"z"\n${ending}`);
      const verdicts = [0x00, 0x22, 0x0a, 0x0d].map((filler) => {
        const b = Buffer.alloc(data.length + 8, filler);
        data.copy(b);
        const checker = new CsvCellChecker("e.csv", rules);
        checker.feed(b, 0, data.length, true, 0);
        return checker.finish();
      });
      for (const v of verdicts.slice(1)) assert.deepStrictEqual(v, verdicts[0], JSON.stringify(ending));
      assert.deepStrictEqual(verdicts[0].problems, [], JSON.stringify(ending));
    }
  });

  it("the plain loop (stretches without quotes; \\n or \\r\\n line ends) and the general one give the same verdicts", async () => {
    const rows = [ROW, "", "  \t", ROW.replace(/^63/, "sixty"), ROW.replace(",233,", ",1e999,"), `${ROW},`, "", `${ROW},7`, "63", ",,,", ROW.replace(",2.3,", ",\u00a02.3\u2003,"), ROW.replace(",0,fixed", `,${"9".repeat(320)},fixed`), ROW.replace(/^63/, "6 3")];
    const cases: Array<[string, string[], string]> = [
      ["trailing", [`${ROW},`, ...rows], "\n"],
      ["plain", rows.filter((r) => !r.endsWith(",") && !r.endsWith(",7")), "\n"],
      ["crlf", rows, "\r\n"],
      ["lone-cr", [...rows.slice(0, 5), `${rows[5]}\r${ROW.replace(/^63/, "x")}`, ...rows.slice(6)], "\r\n"],
      ["wide", [ROW, `${ROW},,`], "\n"],
    ];
    for (const [name, body, eol] of cases) {
      const file = path.join(folder(`plain-${name}`, { "p.csv": `${HEADER}${eol}${body.join(eol)}` }), "p.csv");
      const general = await checkCsvFile(file, "p.csv", rules, { plainLoop: false });
      assert.ok(general.problems.length > 0, name);
      assert.deepStrictEqual(await checkCsvFile(file, "p.csv", rules), general, name);
      for (const size of [1, 4, 9, 40, 128]) {
        assert.deepStrictEqual(await checkCsvFile(file, "p.csv", rules, { chunkBytes: size }), general, `${name}, chunkBytes ${size}`);
        assert.deepStrictEqual(await checkCsvFile(file, "p.csv", rules, { chunkBytes: size, plainLoop: false }), general, `${name}, general loop, chunkBytes ${size}`);
      }
    }
  });
});
