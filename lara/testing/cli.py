"""Run the real ``lara`` command in a child process (for tests that need real stderr, exit codes,
several processes at once, or a clean interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

import lara

CHECKOUT = Path(lara.__file__).resolve().parent.parent

# a tiny offline run: 8 synthetic samples of 40 tokens answered by the mock model
TINY_RUN = ("run", "--task", "synthetic", "-T", "lengths=[40]", "-T", "n_docs=2", "--runner", "lc",
            "--format", "md")


def lara_env(extra: Mapping[str, str] | None = None, cache_dir: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(CHECKOUT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if cache_dir is not None:
        env["LARA_CACHE_DIR"] = str(cache_dir)
    env.update(extra or {})
    return env


def start_cli(args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """``python -m lara ARGS`` started (not waited for); stdout and stderr are pipes."""
    return subprocess.Popen([sys.executable, "-m", "lara", *args], env=dict(env or lara_env()), cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m lara ARGS`` to completion, output captured as text."""
    return subprocess.run([sys.executable, "-m", "lara", *args], env=dict(env or lara_env()), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
