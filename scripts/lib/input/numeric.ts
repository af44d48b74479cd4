/**
 * What the prepare step accepts in a numeric column, decided without building a string for the common case.
 *
 * The step (components/prepare/src/heart_features.py) strips the cell with Python's str.strip(), turns it into
 * a number with pandas.to_numeric(errors="coerce") and refuses anything that is not empty and does not give a
 * finite number. Probed on pandas 1.5.3, that accepts exactly `[+-]?(digits[.digits]|.digits)([eE][+-]?digits)?`
 * (ASCII digits only: no "nan", "inf", "1_000", "0x10", hex floats or other scripts' digits) whose value is
 * finite. test/inputCheck.parity.test.ts runs odd cells through both to keep the two in step.
 */

/** Python's str.isspace() characters: what str.strip() removes (JavaScript's trim() differs: it strips U+FEFF, keeps U+001C-001F and U+0085). */
const PY_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003,
  0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

export function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && PY_SPACE.has(s.charCodeAt(a))) a++;
  while (b > a && PY_SPACE.has(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/** Python's repr() of a str, as the step prints the value it refuses ('sixty', "it's"). */
export function pyRepr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === "\\" || ch === q) out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else if (c >= 0x80 && c < 0xa0) out += `\\x${c.toString(16)}`;
    else out += ch;
  }
  return out + q;
}

const NUMBER = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/**
 * The slow, exact path: true when the step accepts this cell text. Values that round to the largest double
 * although they are above it ("1.7976931348623158e308") overflow in pandas' own parser, so they are refused here too.
 */
export function acceptsNumericText(cell: string): boolean {
  const t = pyStrip(cell);
  if (t === "") return true;
  if (!NUMBER.test(t)) return false;
  const v = Number(t);
  if (!Number.isFinite(v)) return false;
  return Math.abs(v) !== Number.MAX_VALUE || !aboveMaxDouble(t);
}

/** Whether the decimal text's magnitude is above 1.7976931348623157e308 (only asked near the top of the range). */
function aboveMaxDouble(t: string): boolean {
  const m = /^[+-]?([0-9]*)\.?([0-9]*)(?:[eE]([+-]?[0-9]+))?$/.exec(t)!;
  let digits = m[1] + m[2];
  let exp = Number(m[3] ?? 0) + m[1].length; // value = 0.digits × 10^exp
  const lead = digits.length - digits.replace(/^0+/, "").length;
  digits = digits.slice(lead).replace(/0+$/, "");
  exp -= lead;
  const max = "17976931348623157";
  if (exp !== 309) return exp > 309;
  return digits.length > max.length ? digits.slice(0, max.length) >= max : digits > max;
}

const enum Verdict {
  Ok = 0,
  /** Not decided on the bytes (non-ASCII, a refusal to word, or near overflow): ask acceptsNumericText. */
  Ask = 1,
}

/**
 * The fast path, on the raw bytes of an unquoted cell [s, e): Ok when it is certainly accepted (empty, or a
 * plain decimal number far from overflow), else Ask. Allocates nothing.
 */
export function numericBytesOk(b: Uint8Array, s: number, e: number): boolean {
  return fastVerdict(b, s, e) === Verdict.Ok;
}

function isAsciiSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c || (c >= 0x1c && c <= 0x1f);
}

function fastVerdict(b: Uint8Array, s: number, e: number): Verdict {
  while (s < e && isAsciiSpace(b[s])) s++;
  while (e > s && isAsciiSpace(b[e - 1])) e--;
  if (s === e) return Verdict.Ok;
  let c = b[s];
  if (c === 0x2b || c === 0x2d) s++;
  let intDigits = 0;
  let fracDigits = 0;
  while (s < e && (c = b[s]) >= 0x30 && c <= 0x39) (s++, intDigits++);
  if (s < e && b[s] === 0x2e) {
    s++;
    while (s < e && (c = b[s]) >= 0x30 && c <= 0x39) (s++, fracDigits++);
  }
  if (intDigits + fracDigits === 0) return Verdict.Ask;
  let exp = 0;
  if (s < e && (b[s] | 0x20) === 0x65) {
    s++;
    let neg = false;
    if (s < e && (b[s] === 0x2b || b[s] === 0x2d)) neg = b[s++] === 0x2d;
    let expDigits = 0;
    while (s < e && (c = b[s]) >= 0x30 && c <= 0x39) {
      if (exp < 100_000) exp = exp * 10 + (c - 0x30);
      s++;
      expDigits++;
    }
    if (expDigits === 0) return Verdict.Ask;
    if (neg) exp = -exp;
  }
  if (s !== e) return Verdict.Ask;
  // Leading zeros only make this conservative; anything near 1e308 goes the exact way.
  return intDigits + exp < 300 ? Verdict.Ok : Verdict.Ask;
}
