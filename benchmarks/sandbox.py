"""Sandbox: all 974 MBPP reference solutions must pass; bubblewrap overhead vs a plain subprocess;
total memory of a forking, tmpfs-filling program against its limit.

Both overhead runs execute the same cases (solution, setup code, tests) through the same
bootstrap and pass protocol (``Sandbox.run_tests``), same interpreter, 2 workers, in one process,
so the ratio is comparable across machines. Prints ``sandbox_passed`` (target 974/974),
``overhead_ratio`` (target <= 2), and ``sandbox_peak_mb`` against ``limit_mb`` (the whole
sandbox's peak as its memory cgroup measured it; "n/a" where no cgroup can be made, then the
bound holds by construction: RLIMIT_AS x RLIMIT_NPROC + tmpfs <= limit, printed as
``rlimits_bound_mb``). Data: $LARA_SHARED_DATA/mbpp or argv[1].
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lara.sandbox import BubblewrapSandbox, Limits, SubprocessSandbox, run_tests_many  # noqa: E402
from lara.sandbox.memory import plan  # noqa: E402
from lara.sandbox.verdict import top_level_names  # noqa: E402
from lara.tasks.mbpp import load_rows  # noqa: E402

HOG_LIMITS = Limits(memory_mb=256, disk_mb=64)
# Fills its tmpfs, then forks 4 children that each try to hold 120 MB at the same time.
HOG = """
import os, time
try:
    with open("/tmp/fill", "wb") as f:
        for _ in range(512):
            f.write(b"x" * (1 << 20))
except OSError:
    pass
pids = []
for _ in range(4):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        try:
            block = b"x" * (120 << 20)
            time.sleep(1)
        except MemoryError:
            pass
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
"""


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    default = Path(os.environ.get("LARA_SHARED_DATA", "../shared/data")) / "mbpp"
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    rows = load_rows(data_dir, "full")
    cases = [(r["code"], r["tests"], r["setup"], top_level_names(r["code"])) for r in rows]

    box = BubblewrapSandbox()
    t0 = time.perf_counter()
    boxed = run_tests_many(box, cases, timeout_s=20, workers=2)
    t_box = time.perf_counter() - t0

    t0 = time.perf_counter()
    plain = run_tests_many(SubprocessSandbox(unsafe=True, python=box.python), cases, timeout_s=20, workers=2)
    t_plain = time.perf_counter() - t0

    hog = box.run(HOG, timeout_s=60, limits=HOG_LIMITS)
    print(f"sandbox_python {box.python}")
    print(f"sandbox_memory_bound {box.memory_bound}")
    print(f"sandbox_seccomp {box.seccomp_status}")
    print(f"sandbox_programs {len(cases)}")
    print(f"sandbox_passed {sum(r.passed for r in boxed)}")
    print(f"plain_passed {sum(r.passed for r in plain)}")
    print(f"sandbox_total_s {t_box:.1f}")
    print(f"plain_total_s {t_plain:.1f}")
    print(f"overhead_ratio {t_box / t_plain:.2f}")
    peak = f"{hog.peak_memory_mb:.1f}" if hog.peak_memory_mb is not None else "n/a"
    print(f"sandbox_peak_mb {peak} limit_mb {HOG_LIMITS.memory_mb} (forking, tmpfs-filling program; "
          f"oom_killed {hog.oom_killed})")
    p = plan(HOG_LIMITS.memory_mb, HOG_LIMITS.disk_mb, HOG_LIMITS.nproc, "rlimits")
    print(f"rlimits_bound_mb {(p.rlimit_as * p.nproc + p.tmpfs_bytes) / 2**20:.0f} "
          f"(RLIMIT_AS {p.rlimit_as / 2**20:.0f} MB x NPROC {p.nproc} + tmpfs {p.tmpfs_bytes / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
