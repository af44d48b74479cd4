#!/usr/bin/env bash
# Runs every test: the Python steps' tests (pytest) and the TypeScript tests (mocha), then prints one
# closing line "tests: N passed, N failed". Exits non-zero if anything failed.
#
# Azurite and the fake Azure ML service speak HTTPS (Azure SDKs refuse bearer tokens over plain HTTP),
# so a throw-away certificate for localhost/127.0.0.1 is made here and trusted through NODE_EXTRA_CA_CERTS,
# which Node reads only at start-up.
set -uo pipefail
cd "$(dirname "$0")/.."
python="${HEART_PYTHON:-/usr/bin/python3}"

work="$(mktemp -d "${TMPDIR:-/tmp}/heart-tests.XXXXXX")"
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1 || { echo "run-all: openssl could not make a test certificate" >&2; exit 1; }
export HEART_TEST_TLS_CERT="$work/cert.pem" HEART_TEST_TLS_KEY="$work/key.pem"
export NODE_EXTRA_CA_CERTS="$work/cert.pem"
export HEART_PYTHON="$python"

counts() { # file → "passed failed" from a JUnit XML report
  "$python" - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 1"); sys.exit()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
k = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - k, f)
PY
}

# HEART_TEST_SUITES=mocha|pytest runs one suite alone (a developer's shortcut; CI runs both).
suites="${HEART_TEST_SUITES:-pytest mocha}"
py_rc=0 py_pass=0 py_fail=0 mocha_rc=0 m_pass=0 m_fail=0
if [[ " $suites " == *" pytest "* ]]; then
echo "== pytest (test/python)"
"$python" -m pytest -q -p no:cacheprovider --junitxml="$work/pytest.xml" test/python
py_rc=$?
read -r py_pass py_fail < <(counts "$work/pytest.xml")
[[ $py_rc -ne 0 && $py_fail -eq 0 ]] && py_fail=1
fi

if [[ " $suites " == *" mocha "* ]]; then
echo "== mocha (test/**/*.test.ts)"
npx mocha "$@" | tee "$work/mocha.out"
mocha_rc=${PIPESTATUS[0]}
line="$(grep -E '^mocha: [0-9]+ passed, [0-9]+ failed' "$work/mocha.out" | tail -1)"
m_pass="$(sed -E 's/^mocha: ([0-9]+) passed.*/\1/' <<<"$line")"; m_pass="${m_pass:-0}"
m_fail="$(sed -E 's/^mocha: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$line")"; m_fail="${m_fail:-0}"
[[ $mocha_rc -ne 0 && $m_fail -eq 0 ]] && m_fail=1
fi

echo
echo "tests: $((py_pass + m_pass)) passed, $((py_fail + m_fail)) failed"
[[ $py_rc -eq 0 && $mocha_rc -eq 0 ]]
