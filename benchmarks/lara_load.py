"""Peak memory of loading all LaRA questions and reading every context on demand.

Why: 128k book location files carry a 10.7 MB unused inline context and the 131 documents total
~47 MB; samples must not hold texts, so peak RSS stays far below 1 GB. Data: LARA_DATA_DIR, else
$LARA_SHARED_DATA/lara, else the fetched copy. Prints ``peak_rss_mb`` and ``ratio_to_1gb`` (< 1).
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lara.tasks.lara import LaraTask  # noqa: E402


def main() -> None:
    data = os.environ.get("LARA_DATA_DIR")
    if not data and os.environ.get("LARA_SHARED_DATA"):
        data = str(Path(os.environ["LARA_SHARED_DATA"]) / "lara")
    task = LaraTask(data_dir=data)
    samples = task.samples()
    chars = 0
    for s in samples:
        text = s.documents[0].load_text()  # read on demand, released right after
        chars += len(text)
        del text
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    peak_mb = peak_kb / 1024
    print(f"lara_load_questions {len(samples)}")
    print(f"lara_load_context_chars_read {chars}")
    print(f"peak_rss_mb {peak_mb:.1f}")
    print(f"ratio_to_1gb {peak_mb / 1024:.3f}")


if __name__ == "__main__":
    main()
