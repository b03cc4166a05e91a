"""Sandbox overhead: all 974 MBPP reference solutions through bubblewrap vs a plain subprocess.

Both runs execute the same programs (solution + setup code + tests) with the same interpreter and
2 workers in the same process, so the ratio is comparable across machines. Prints ``sandbox_total_s``, ``plain_total_s``,
``sandbox_passed`` and ``overhead_ratio`` (target <= 2). Data: $LARA_SHARED_DATA/mbpp or argv[1].
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lara.sandbox import BubblewrapSandbox, SubprocessSandbox, run_many  # noqa: E402
from lara.scoring.mbpp import build_program  # noqa: E402
from lara.tasks.mbpp import load_rows  # noqa: E402


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    default = Path(os.environ.get("LARA_SHARED_DATA", "../shared/data")) / "mbpp"
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    rows = load_rows(data_dir, "full")
    programs = [build_program(r["code"], r["setup"], r["tests"]) for r in rows]

    box = BubblewrapSandbox()
    t0 = time.perf_counter()
    boxed = run_many(box, programs, timeout_s=20, workers=2)
    t_box = time.perf_counter() - t0

    t0 = time.perf_counter()
    plain = run_many(SubprocessSandbox(unsafe=True, python=box.python), programs, timeout_s=20, workers=2)
    t_plain = time.perf_counter() - t0

    print(f"sandbox_python {box.python}")
    print(f"sandbox_programs {len(programs)}")
    print(f"sandbox_passed {sum(r.ok for r in boxed)}")
    print(f"plain_passed {sum(r.ok for r in plain)}")
    print(f"sandbox_total_s {t_box:.1f}")
    print(f"plain_total_s {t_plain:.1f}")
    print(f"overhead_ratio {t_box / t_plain:.2f}")


if __name__ == "__main__":
    main()
