#!/usr/bin/env bash
# Makes sure Debian's python3 has what the pipeline's Python steps need (pandas, scikit-learn, XGBoost,
# PyYAML; pytest with --with-tests). Installs them with apt where the machine is Debian and we are root;
# otherwise says exactly what to install and exits 1. mlflow is optional: the score step uses it when present.
set -euo pipefail
python="${HEART_PYTHON:-/usr/bin/python3}"
modules=(pandas sklearn xgboost yaml)
packages=(python3-pandas python3-sklearn python3-xgboost python3-yaml)
if [[ "${1:-}" == "--with-tests" ]]; then modules+=(pytest); packages+=(python3-pytest); fi

missing() {
  [[ -x "$python" ]] || { echo "python3"; return; }
  "$python" - "${modules[@]}" <<'PY'
import importlib, sys
print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))
PY
}

need="$(missing)"
[[ -z "$need" ]] && exit 0

if [[ -r /etc/debian_version && "$(id -u)" == "0" && "$python" == /usr/bin/python3 ]] && command -v apt-get >/dev/null; then
  echo "ensure-python: installing ${packages[*]} with apt (missing: $need)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq python3 "${packages[@]}" >&2
  need="$(missing)"
  [[ -z "$need" ]] && exit 0
fi

cat >&2 <<MSG
ensure-python: $python lacks: $need
  On Debian or Ubuntu, as root:  apt-get update && apt-get install -y ${packages[*]}
  Elsewhere: point HEART_PYTHON at a Python 3 that has pandas, scikit-learn, xgboost and pyyaml
  (versions in components/environment/conda.yml), e.g. HEART_PYTHON=/path/to/venv/bin/python npm start
MSG
exit 1
