"""Sandbox.run_tests: each failure reason from a real run, and ordinary Python features that the
harness's guards must not break (namedtuple and enum ask for frames; logging walks the stack)."""

from __future__ import annotations

import pytest

from lara.sandbox import BubblewrapSandbox, SubprocessSandbox
from lara.sandbox.verdict import classify, top_level_names
from lara.testing.sandbox import bwrap_unavailable

needs_bwrap = pytest.mark.skipif(bwrap_unavailable() is not None, reason=str(bwrap_unavailable()))
ADD = "def add(x):\n    return x + 1\n"
TESTS = ["assert add(1) == 2", "assert add(2) == 3"]


@pytest.fixture(scope="module")
def box() -> BubblewrapSandbox:
    return BubblewrapSandbox()


@needs_bwrap
@pytest.mark.parametrize("code,reason,words", [
    (ADD, "passed", "all tests passed"),
    ("def add(x):\n    return x\n", "assertion", "test 1"),
    ("def add(x):\n    return 1 / 0\n", "error", "ZeroDivisionError"),
    ("def add(:\n", "error", "SyntaxError"),
    ("import sys\nsys.exit(0)\n", "exit_before_tests", "candidate"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n", "exit_before_tests", "SIGTERM"),
    ("def add(x):\n    while True:\n        pass\n", "timeout", ""),
    ("import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n" + ADD, "error",
     "threads"),
])
def test_reasons(box: BubblewrapSandbox, code: str, reason: str, words: str) -> None:
    res = box.run_tests(code, TESTS, timeout_s=3)
    assert res.reason == reason, (res.explanation, res.stderr)
    assert words in res.explanation
    assert res.passed == (reason == "passed") and res.ok == (reason == "passed")


@needs_bwrap
def test_ordinary_python_still_works_under_the_guard(box: BubblewrapSandbox) -> None:
    code = '''
import collections, dataclasses, enum, fractions, decimal, heapq, logging, re, sys, typing, threading
sys.setrecursionlimit(5000)
Point = collections.namedtuple("Point", "x y")
class Color(enum.Enum):
    RED = 1
Shape = enum.Enum("Shape", "SQUARE CIRCLE")
class Pair(typing.NamedTuple):
    a: int
    b: int
@dataclasses.dataclass(frozen=True)
class Box:
    w: int
logging.getLogger("x").warning("fine")
t = threading.Thread(target=lambda: None)
t.start()
t.join()
try:
    raise ValueError("caught")
except ValueError:
    pass
def deep(n):
    return 0 if n == 0 else 1 + deep(n - 1)
def add(x):
    print("x" * 100000)  # more output than the capture keeps: the nonce is read from the tail
    return Point(x, 0).x + Pair(1, 0).a + Box(0).w + deep(3000) - 3000 + len(Color) - 1 + len(Shape) - 2
'''
    res = box.run_tests(code, TESTS, timeout_s=20)
    assert res.reason == "passed", (res.explanation, res.stderr[-500:])


@needs_bwrap
def test_shadowing_the_tested_name_is_kept_when_the_task_defines_it(box: BubblewrapSandbox) -> None:
    code = "def sum(a, b):\n    return a * b\n"  # MBPP task 126 names its function sum
    tests = ["assert sum(2, 3) == 6"]
    assert box.run_tests(code, tests, keep=top_level_names(code)).reason == "passed"
    assert box.run_tests(code, tests).reason == "error"  # not kept: the builtin sum gets (2, 3)


def test_unsafe_subprocess_uses_the_same_protocol(caplog: pytest.LogCaptureFixture) -> None:
    sb = SubprocessSandbox(unsafe=True)
    assert sb.run_tests(ADD, TESTS).reason == "passed"
    assert sb.run_tests("import os\nos._exit(0)\n", TESTS).reason == "exit_before_tests"


def test_classify_needs_the_exact_nonce_as_the_last_line() -> None:
    nonce = b"0123456789abcdef0123456789abcdef"
    kw = {"rc": 0, "timed_out": False, "status": "stage candidate\nstage tests\ndone\n", "oom_killed": False}
    assert classify(stdout_tail=b"out\n" + nonce + b"\n", nonce=nonce, **kw)[0] == "passed"
    assert classify(stdout_tail=nonce + b"\nmore\n", nonce=nonce, **kw)[0] == "error"
    assert classify(stdout_tail=b"\n" + nonce[:-1] + b"\n", nonce=nonce, **kw)[0] == "error"
    assert classify(stdout_tail=b"", nonce=nonce, **{**kw, "status": "stage candidate\n"})[0] == "exit_before_tests"
    assert classify(stdout_tail=b"", nonce=nonce, **{**kw, "rc": 137, "oom_killed": True})[0] == "error"
    assert classify(stdout_tail=nonce + b"\n", nonce=nonce, **{**kw, "rc": 152})[0] == "timeout"  # 128+SIGXCPU


def test_top_level_names() -> None:
    assert top_level_names("import math\nX = 1\ndef f():\n    y = 2\nclass C:\n    pass\n") == ("C", "X", "f")
    assert top_level_names("def broken(:") == ()
