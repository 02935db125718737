#!/usr/bin/env bash
# The whole check, as CI runs it. Static checks first (fast), then pytest.
set -uo pipefail
BIN=${VENV:-.venv}/bin
set -e
"$BIN/ruff" check .
"$BIN/mypy"
"$BIN/lint-imports" --no-cache
set +e
"$BIN/python" -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  # pytest's 5 means it collected no test at all: a broken suite, never a pass.
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
