#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 and install tongtu with its test dependencies.
# Finds python3.13 / python3.12 on PATH, or pyenv's, whose shims fail unless selected.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-test,bench,scale}

ok() { "$@" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
  for cand in python3.13 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1 && ok "$cand"; then echo "$cand"; return; fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])' | sort -rV); do
      local exe
      exe="$(pyenv root)/versions/$v/bin/python3"
      if [ -x "$exe" ] && ok "$exe"; then echo "$exe"; return; fi
    done
  fi
  return 1
}

if [ -x "$VENV/bin/python" ] && ok "$VENV/bin/python" && [ "${FORCE:-0}" != 1 ]; then
  if [ "$VENV/.installed" -nt pyproject.toml ]; then exit 0; fi
else
  PY=$(find_python) || {
    echo "tongtu needs Python >= 3.12 (python3.13, python3.12 or a pyenv 3.12+); none found." >&2
    echo "Install one (e.g. 'pyenv install 3.12') and run this again." >&2
    exit 1
  }
  echo "bootstrap: creating $VENV with $PY ($("$PY" --version))"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS]"
touch "$VENV/.installed"
echo "bootstrap: $VENV ready"
