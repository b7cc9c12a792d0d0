#!/usr/bin/env bash
# Build dslim's wheel once, install it into a fresh venv of each Python the package supports at the
# edges (3.10 and 3.13), and run it there: the package must import and work without the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 -m pip wheel -q --no-deps -w "$out/dist" .
wheel=$(ls "$out"/dist/dslim-*.whl)
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
