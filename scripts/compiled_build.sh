#!/usr/bin/env bash
# The compiled build (DSLIM_COMPILE=1: the rewrite path compiled with mypyc, see setup.py).
#
# Builds its wheel as a user's `DSLIM_COMPILE=1 pip install .` does (the build backend adds mypy to the
# build requirements), installs it into a fresh venv and checks that `dslim --version` says compiled
# and that it rewrites the example, then copies its extension modules into this checkout, where they
# take precedence over the .py files: the test suite then runs against the compiled code.
# `--clean` removes them again. Takes ~4 minutes (one C compile of the whole rewrite path).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--clean" ]; then
  find dockerslim_rewrite -name '*.so' -delete
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# built from a copy of the checkout's files: pip builds in the source folder, and the build/ folder an
# earlier build left there would put its stale extension modules into this wheel
mkdir "$out/src"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -C "$out/src" -xf -
(cd "$out" && DSLIM_COMPILE=1 python3 -m pip wheel -q --no-deps -w "$out/dist" "$out/src" > "$out/build.log" 2>&1) || { cat "$out/build.log" >&2; exit 1; }
wheel=$(ls "$out"/dist/dslim-*.whl)
python3 -m venv "$out/venv"
"$out/venv/bin/pip" install -q --disable-pip-version-check "$wheel"
"$out/venv/bin/dslim" --version | grep -q "(compiled)"
(cd "$out" && "$out/venv/bin/dslim" rewrite "$OLDPWD/examples/python-app/Dockerfile" > "$out/diff" 2> "$out/report") || { cat "$out/report" >&2; exit 1; }
grep -q "python:3.11-slim" "$out/diff"
echo "compiled wheel ($(basename "$wheel")): installs into a fresh venv, says compiled, rewrites the example"
python3 - "$wheel" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    modules = [n for n in wheel.namelist() if n.startswith("dockerslim_rewrite/") and n.endswith(".so")]
    wheel.extractall(".", modules)
print(f"{len(modules)} compiled modules placed in the checkout (remove: bash scripts/compiled_build.sh --clean)")
PY
