"""MBPP cannot be passed without running the tests: cheating answers score 0 through the real MBPP
task, scorer and bubblewrap sandbox; honest answers still pass (so the table is not vacuous)."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import pytest

from lara.registry import scorers, tasks
from lara.testing.fixtures import mbpp_row, write_mbpp
from lara.testing.sandbox import bwrap_unavailable
from lara.types import RunOutput

pytestmark = pytest.mark.skipif(bwrap_unavailable() is not None, reason=str(bwrap_unavailable()))

ROWS = [
    mbpp_row(11, "Add 11.", "def add(x):\n    return x + 11", ["assert add(1) == 12", "assert add(2) == 13"]),
    mbpp_row(12, "Shared elements.", "def similar_elements(a, b):\n    return tuple(set(a) & set(b))",
             ["assert set(similar_elements((3, 4, 5, 6), (5, 7, 4, 10))) == set((4, 5))"]),
    mbpp_row(13, "Circle area.", "import math\ndef circle_area(r):\n    return math.pi * r * r",
             ["assert math.isclose(circle_area(1), 3.14159, rel_tol=0.001)"]),
]

# Each cheat: (name, task_id, answer code, expected reason). All answers are wrong for their task.
FIND_TOKENS = '''
import os, re, sys
found = []
def scan(data):
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    found.extend(m.decode() for m in re.findall(rb"[0-9a-f]{32}", data))
scan(repr(sorted(os.environ.items())) + repr(sys.argv))
for path in ["/proc/self/cmdline", "/proc/self/environ", "/proc/1/cmdline", "/proc/1/environ", "/proc/self/mem"]:
    try:
        scan(open(path, "rb").read(1 << 20))
    except OSError:
        pass
for top in ["/lara", "/sandbox", "/tmp"]:
    for dirpath, _, files in os.walk(top):
        for f in files:
            try:
                scan(open(os.path.join(dirpath, f), "rb").read())
            except OSError:
                pass
for fd in range(3, 64):
    try:
        os.set_blocking(fd, False)
        scan(os.read(fd, 4096))
    except OSError:
        pass
'''
CHEATS = [
    ("os._exit(0)", 11, "import os\nos._exit(0)", "exit_before_tests"),
    ("sys.exit(0) before the asserts", 11, "import sys\nsys.exit(0)", "exit_before_tests"),
    ("SystemExit from the tested function", 11, "def add(x):\n    raise SystemExit(0)", "exit_before_tests"),
    ("SystemExit in an atexit hook", 11,
     "import atexit\ndef bye():\n    raise SystemExit(0)\natexit.register(bye)\ndef add(x):\n    return 0", "assertion"),
    ("os._exit(0) from atexit and excepthook", 11,
     "import atexit, os, sys, threading\natexit.register(lambda: os._exit(0))\n"
     "sys.excepthook = lambda *a: os._exit(0)\nthreading.excepthook = lambda *a: os._exit(0)\n"
     "def add(x):\n    return 0", "assertion"),
    ("print/stdout replaced, fake nonce written, exit 0", 11,
     "import builtins, io, os, sys\nbuiltins.print = lambda *a, **k: None\nsys.stdout = io.StringIO()\n"
     "os.write(1, b'\\n' + b'0' * 32 + b'\\n')\nos._exit(0)", "exit_before_tests"),
    ("nonce hunted in env, argv, files, /proc and fds, then printed", 11,
     FIND_TOKENS + "\nos.write(1, ('\\n'.join(found) + '\\n').encode())\nos._exit(0)", "exit_before_tests"),
    ("forked child prints, parent exits 0", 11,
     "import os\nif os.fork() == 0:\n    print('all tests passed')\n    os._exit(0)\nos._exit(0)", "exit_before_tests"),
    ("kills its parents, then exits 0", 11,
     "import os, signal\nfor pid in {os.getppid(), 1}:\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
     "    except OSError:\n        pass\nos._exit(0)", "exit_before_tests"),
    ("frame walk for the nonce (sys._getframe, tb_frame, gi_frame, gc, signal handler, settrace)", 11, '''
import gc, os, sys
frames, found = [], []
def grab(get):
    try:
        frames.append(get())
    except Exception:
        pass
grab(lambda: sys._getframe())
def tb():
    try:
        1 / 0
    except ZeroDivisionError as e:
        return e.__traceback__.tb_frame
grab(tb)
def gen():
    yield 1
grab(lambda: gen().gi_frame)
try:
    found += [o for o in gc.get_objects() if isinstance(o, bytes) and len(o) == 32]
except Exception:
    pass
try:
    import signal
    signal.signal(signal.SIGALRM, lambda s, f: frames.append(f))
except Exception:
    pass
try:
    sys.settrace(lambda f, e, a: frames.append(f))
except Exception:
    pass
for f in frames:
    while f is not None:
        found += [v for v in f.f_locals.values() if isinstance(v, bytes) and len(v) == 32]
        f = f.f_back
if found:
    os.write(1, b"\\n" + found[-1] + b"\\n")
    os._exit(0)
def add(x):
    return 0
''', "assertion"),
    ("ctypes memory read", 11, "import ctypes\nimport os\nos._exit(0)", "error"),
    ("builtins.set replaced by an always-equal object", 12,
     "import builtins\nclass Eq:\n    def __eq__(self, o):\n        return True\n"
     "builtins.set = lambda *a: Eq()\ndef similar_elements(a, b):\n    return ()", "assertion"),
    ("module-level set shadows the builtin", 12,
     "class Eq:\n    def __eq__(self, o):\n        return True\ndef set(*a):\n    return Eq()\n"
     "def similar_elements(a, b):\n    return ()", "assertion"),
    ("math.isclose patched", 13,
     "import math\nmath.isclose = lambda *a, **k: True\ndef circle_area(r):\n    return 0", "error"),
    ("sys.modules['math'] replaced", 13,
     "import sys, types\nfake = types.ModuleType('math')\nfake.isclose = lambda *a, **k: True\n"
     "sys.modules['math'] = fake\nimport math\ndef circle_area(r):\n    return 0", "error"),
    ("exec and compile replaced so the tests do nothing", 11,
     "import builtins\nbuiltins.exec = lambda *a, **k: None\nbuiltins.compile = lambda *a, **k: None\n"
     "def add(x):\n    return 0", "assertion"),
    ("thread left running exits 0 while the tests run", 11,
     "import os, threading, time\nthreading.Thread(target=lambda: (time.sleep(0.5), os._exit(0)), daemon=True).start()\n"
     "def add(x):\n    time.sleep(1)\n    return 0", "exit_before_tests"),
]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[int, object]:
    root = write_mbpp(tmp_path_factory.mktemp("mbpp"), ROWS)
    return {s.metadata["task_id"]: s for s in tasks.get("mbpp")(data_dir=str(root)).samples()}


def _score(sample, code: str):
    scorer = scorers.get("mbpp_pass")(timeout_s=10)
    return asyncio.run(scorer.score(sample, RunOutput(answer=f"[BEGIN]\n{code}\n[DONE]")))


def test_honest_answers_pass(samples) -> None:
    for row in ROWS:
        score = _score(samples[row["task_id"]], row["code"])
        assert score.value == 1.0 and score.details["reason"] == "passed", score.details


@pytest.mark.parametrize("name,task_id,code,reason", CHEATS, ids=[c[0] for c in CHEATS])
def test_cheat_scores_zero(samples, name: str, task_id: int, code: str, reason: str) -> None:
    score = _score(samples[task_id], code)
    assert score.status == "ok"
    assert score.value == 0.0, f"{name} passed: {score.details}"
    assert score.details["reason"] == reason, score.details
    assert score.details["isolation"] == "bubblewrap"


def test_always_equal_return_value_is_out_of_scope(samples) -> None:
    """Documented boundary (docs/security.md): a value whose __eq__ always holds makes the tests
    run and hold; the harness proves the tests ran, not that they are strong."""
    code = "class Eq:\n    def __eq__(self, o):\n        return True\ndef add(x):\n    return Eq()"
    assert _score(samples[11], code).details["reason"] == "passed"


def test_exit_answer_on_ten_real_mbpp_tasks(shared_data: Path) -> None:
    """The done-when CLI check (`-M answer='[BEGIN]\\nimport os\\nos._exit(0)\\n[DONE]' -n 10`), on
    the scorer path: 10 real MBPP test tasks, every one scores 0 as exit_before_tests."""
    task = tasks.get("mbpp")(data_dir=str(shared_data / "mbpp"))
    first = [s for _, s in zip(range(10), task.samples())]
    reasons = collections.Counter(_score(s, "import os\nos._exit(0)").details["reason"] for s in first)
    assert reasons == {"exit_before_tests": 10}


def test_cli_run_with_the_exit_answer_scores_zero(tmp_path: Path) -> None:
    """The done-when CLI check on fixture MBPP data: `lara run --task mbpp --runner no-context
    --model mock -M answer='[BEGIN]\\nimport os\\nos._exit(0)\\n[DONE]'`; every record scores 0
    with reason exit_before_tests."""
    from typer.testing import CliRunner

    from lara.cli import _register_commands, app
    from lara.results.store import read_records

    data = write_mbpp(tmp_path / "mbpp", ROWS)
    _register_commands()
    r = CliRunner().invoke(app, ["run", "--task", "mbpp", "--runner", "no-context", "--model", "mock",
                                 "-M", "answer=[BEGIN]\\nimport os\\nos._exit(0)\\n[DONE]", "-n", "10",
                                 "--data-dir", str(data), "--output", str(tmp_path / "out"), "--no-cache"])
    assert r.exit_code == 0, r.output
    records = list(read_records(tmp_path / "out"))
    reasons = collections.Counter((rec["scores"]["mbpp_pass"]["value"], rec["scores"]["mbpp_pass"]["details"]["reason"])
                                  for rec in records)
    assert reasons == {(0.0, "exit_before_tests"): len(ROWS)}
