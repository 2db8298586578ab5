#!/bin/sh
# ctest's viewer test: record a real trace (examples/trace/trace_fib.cpp,
# fib at procs 2) and check tools/trace-viewer/index.html on it in headless
# Chromium (tests/viewer/viewer_test.mjs). Needs node, Debian's chromium
# and tests/viewer/node_modules (npm ci there; scripts/test-all does it).
# Without node_modules it exits 77, which ctest reports as skipped.
set -eu
trace_fib="$1"
src="$(cd "$(dirname "$0")/../.." && pwd)"
if [ ! -d "$src/tests/viewer/node_modules/playwright-core" ]; then
  echo "run_viewer_test: SKIPPED: tests/viewer/node_modules is missing: run 'npm ci' in tests/viewer" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$trace_fib" "$tmp/fib.json" 21 2
python3 "$src/tests/trace/check_trace.py" "$tmp/fib.json"
node "$src/tests/viewer/viewer_test.mjs" --viewer "$src/tools/trace-viewer/index.html" --trace "$tmp/fib.json"
