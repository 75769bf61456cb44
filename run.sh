#!/usr/bin/env bash
# One entry point for a fresh machine. Each command first makes sure ./.venv holds every pinned
# dependency (created on first use, refreshed when pyproject.toml or the constraints change), then:
#   ./run.sh demo [--out DIR]   the main job: a full guided run on generated demo data
#   ./run.sh test [PYTEST ARGS] the whole test suite
#   ./run.sh setup              only the set-up
#   ./run.sh bench              the benchmarks in benchmarks/
set -euo pipefail
cd "$(dirname "$0")"

venv="${STANDARDSEG_VENV:-.venv}"
constraints="requirements/constraints.txt"

pick_python() {
  # slicer-core ships wheels for CPython 3.10-3.13 only.
  for candidate in "${PYTHON:-}" python3.12 python3.11 python3.13 python3.10 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "run.sh: needs Python 3.10-3.13 (slicer-core has no wheels for other versions); set PYTHON=..." >&2
  return 1
}

setup() {
  local stamp="$venv/.standardseg-setup" want
  want=$(cat pyproject.toml "$constraints" | sha256sum | cut -c1-32)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/standardseg" ]; then
    return 0
  fi
  echo "Setting up $venv (first run, or the pinned dependencies changed)..." >&2
  if [ ! -x "$venv/bin/python" ]; then
    "$(pick_python)" -m venv "$venv"
  fi
  local pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
  "${pip[@]}" install --upgrade pip
  # pyradiomics' sdist builds its C extensions against the numpy already installed.
  "${pip[@]}" install -c "$constraints" numpy versioneer wheel setuptools
  "${pip[@]}" install -c "$constraints" --no-build-isolation pyradiomics
  "${pip[@]}" install -c "$constraints" -e ".[test]"
  # pynemaiqpet (test only, the phantom cross-check) declares pydicom<3 and pymirc, neither used by the nema_wb
  # module the test imports (its imports - scipy, pandas, lmfit, matplotlib - are in the test extra).
  "${pip[@]}" install -c "$constraints" --no-deps pynemaiqpet
  echo "$want" > "$stamp"
}

browser() {
  # The report's browser test (Testing/test_report_html.py) drives the operating system's Chromium through
  # Playwright; no browser is downloaded. Installed here where the system's packages allow it.
  local name
  for name in "${STANDARDSEG_CHROMIUM:-}" chromium chromium-browser google-chrome; do
    [ -n "$name" ] && command -v "$name" >/dev/null 2>&1 && return 0
  done
  local sudo=()
  [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && sudo=(sudo -n); }
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ ${#sudo[@]} -gt 0 ]; }; then
    echo "Installing Chromium for the report's browser test (apt-get install chromium)..." >&2
    if ${sudo[@]+"${sudo[@]}"} apt-get install -y -q chromium >/dev/null 2>&1 || \
       { ${sudo[@]+"${sudo[@]}"} apt-get update -q >/dev/null 2>&1 && ${sudo[@]+"${sudo[@]}"} apt-get install -y -q chromium >/dev/null 2>&1; }; then
      return 0
    fi
  fi
  echo "run.sh: no Chromium for the report's browser test: install it (Debian/Ubuntu: apt-get install chromium;" \
       "macOS: brew install --cask chromium) or set STANDARDSEG_CHROMIUM=/path/to/chrome. Without it the test" \
       "is skipped (and fails under CI=true)." >&2
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  setup) setup ;;
  demo)  setup; exec "$venv/bin/standardseg" demo "$@" ;;
  test)  setup; browser; exec "$venv/bin/python" -m pytest "$@" ;;
  bench) setup; for script in benchmarks/bench_*.py; do "$venv/bin/python" "$script" "$@"; done ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
