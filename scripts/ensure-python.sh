#!/usr/bin/env bash
# Makes sure Debian's python3 has what the pipeline's Python steps need: pandas, scikit-learn, XGBoost and
# PyYAML; with --with-training also matplotlib (the model card's plots); with --with-tests pytest and
# matplotlib (the training reproducibility test redraws the plots). Installs the missing ones with apt where the machine is Debian and we are
# root; otherwise says exactly what to install and exits 1. mlflow is optional: the score step uses it when
# present (as on Azure ML) and reads the MLmodel file itself when it is not.
#
# It relies on nothing an earlier install may have left behind: each module is looked up by its own
# importlib.util.find_spec (importlib.util imported explicitly, not through a .pth side effect), and apt runs
# with --no-install-recommends so that a package we need arrives because we named it, not as a Recommends.
set -euo pipefail
python="${HEART_PYTHON:-/usr/bin/python3}"
modules=(pandas sklearn xgboost yaml)
packages=(python3-pandas python3-sklearn python3-xgboost python3-yaml)
case "${1:-}" in
  "") ;;
  --with-training) modules+=(matplotlib); packages+=(python3-matplotlib) ;;
  --with-tests) modules+=(pytest matplotlib); packages+=(python3-pytest python3-matplotlib) ;;
  *) echo "usage: ensure-python.sh [--with-training | --with-tests]" >&2; exit 2 ;;
esac

say() { echo "ensure-python: $*" >&2; }

# The Debian package that provides each missing module.
package_of() {
  local m="$1" i
  for i in "${!modules[@]}"; do [[ "${modules[$i]}" == "$m" ]] && { echo "${packages[$i]}"; return; }; done
}

missing() { # the missing modules, space-separated ("python3" when there is no interpreter at all)
  [[ -x "$python" ]] || { echo "python3"; return; }
  "$python" - "${modules[@]}" <<'PY'
import importlib.util
import sys
def absent(name):
    spec = importlib.util.find_spec(name)
    # An empty folder left by a removed package is a namespace package: found, but with nothing to load.
    return spec is None or spec.loader is None
print(" ".join(m for m in sys.argv[1:] if absent(m)))
PY
}

by_hand() { # the exact command for a person to run, then exit 1
  local want=("$@")
  cat >&2 <<MSG
ensure-python: $python cannot run the pipeline's Python steps yet (missing: $need).
  On Debian or Ubuntu, as root:  apt-get update && apt-get install -y --no-install-recommends ${want[*]}
  Elsewhere: point HEART_PYTHON at a Python 3 that has pandas, scikit-learn, xgboost and pyyaml (and pytest and
  matplotlib for the tests), at the versions in components/environment/conda.yml, e.g.
  HEART_PYTHON=/path/to/venv/bin/python npm start
MSG
  exit 1
}

need="$(missing)"
[[ -z "$need" ]] && exit 0

want=()
if [[ "$need" == "python3" ]]; then
  want=(python3 "${packages[@]}")
else
  for m in $need; do want+=("$(package_of "$m")"); done
fi

if [[ "$python" != /usr/bin/python3 ]]; then
  say "HEART_PYTHON=$python is not Debian's python3, so apt cannot install into it."
  by_hand "${want[@]}"
fi
if [[ ! -r /etc/debian_version ]] || ! command -v apt-get >/dev/null; then
  say "this is not a Debian-based machine, so nothing is installed automatically."
  by_hand "${want[@]}"
fi
if [[ "$(id -u)" != "0" ]]; then
  say "apt needs root, and this is $(id -un)."
  by_hand "${want[@]}"
fi

say "the pipeline's Python steps need ${need// /, } in $python; installing ${want[*]} with apt (a few minutes the first time)"
export DEBIAN_FRONTEND=noninteractive
# apt's and dpkg's chatter goes to a log, shown (its end) only when a step fails.
log="$(mktemp "${TMPDIR:-/tmp}/ensure-python-apt.XXXXXX")"
trap 'rm -f "$log"' EXIT
apt_step() { # apt_step DESCRIPTION apt-get-args...
  local what="$1"; shift
  if ! apt-get "$@" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    say "'$what' failed (no network, a broken package source, or a held package? apt's last lines are above)."
    by_hand "${want[@]}"
  fi
}
apt_step "apt-get update" update -qq
apt_step "apt-get install ${want[*]}" install -y -qq --no-install-recommends "${want[@]}"
need="$(missing)"
if [[ -n "$need" ]]; then
  say "apt finished, but $python still lacks: $need."
  by_hand "${want[@]}"
fi
say "installed ${want[*]}"
