#!/usr/bin/env bash
# Build dslim's sdist and, from that sdist, its wheel (`python -m build`: what a release uploads), then
# install the wheel into a fresh venv of each Python the package supports at the edges (3.10 and 3.13)
# and the sdist into one more fresh venv, and run dslim there: the package must import and work
# without the checkout, and the sdist must hold everything the wheel needs (data files, templates).
# Needs the `build` package (in the test extra); build's isolated environments come from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# (run from $out: the checkout's own build/ folder of setuptools output would shadow the package)
(cd "$out" && python3 -m build --outdir "$out/dist" "$OLDPWD" > "$out/build.log" 2>&1) || { cat "$out/build.log" >&2; exit 1; }
wheel=$(ls "$out"/dist/dslim-*.whl)
sdist=$(ls "$out"/dist/dslim-*.tar.gz)
for version in 3.10 3.13; do
  python=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python 2>/dev/null | tail -n 1 || true)
  if [ -z "$python" ] && "python$version" -c "" 2>/dev/null; then python=$(command -v "python$version"); fi
  if [ -z "$python" ]; then
    echo "no Python $version interpreter on this machine: cannot smoke-test it" >&2
    exit 1
  fi
  "$python" -m venv "$out/venv$version"
  "$out/venv$version/bin/pip" install -q --disable-pip-version-check "$wheel"
  "$out/venv$version/bin/dslim" --help > /dev/null
  "$out/venv$version/bin/dslim" rules > /dev/null
  (cd "$out" && "$out/venv$version/bin/dslim" rewrite "$OLDPWD/examples/python-app/Dockerfile" > "$out/diff$version" 2> /dev/null)
  grep -q "python:3.11-slim" "$out/diff$version"
  "$out/venv$version/bin/python" -c "from dockerslim_rewrite import aptdata; assert aptdata.dropped_recommends('bookworm', ['gpg']).explicit"
  echo "Python $version: wheel installs, dslim --help, rules and rewrite work"
done
# the sdist alone, as `pip install dslim` does where no wheel fits: pip builds it in a fresh venv
python3 -m venv "$out/venv-sdist"
"$out/venv-sdist/bin/pip" install -q --disable-pip-version-check "$sdist"
"$out/venv-sdist/bin/dslim" --help > /dev/null
"$out/venv-sdist/bin/dslim" --version | grep -q "^dslim "
(cd "$out" && "$out/venv-sdist/bin/dslim" rewrite "$OLDPWD/examples/python-app/Dockerfile" > "$out/diff-sdist" 2> /dev/null)
grep -q "python:3.11-slim" "$out/diff-sdist"
"$out/venv-sdist/bin/python" -c "from dockerslim_rewrite import aptdata; assert aptdata.dropped_recommends('bookworm', ['gpg']).explicit"
echo "sdist ($(basename "$sdist")): installs into a fresh venv, dslim --help, --version and rewrite work"
