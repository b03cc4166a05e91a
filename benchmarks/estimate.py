"""How close the dry run's figures are to what a run then records, and what it costs to compute them.

Why: `lara estimate` is only useful if its token counts are the bill. Data: LaRA 32k replayed from
the recorded gpt-4o-mini outputs (LARA_DATA_DIR, else $LARA_SHARED_DATA/lara), runners lc and rag
(BM25), no model or network. Prints, per runner, ``estimate_over_recorded_input`` (target within
0.95-1.05; recorded error records, JSON ``false`` upstream, made no call) and the same for input +
output tokens, and ``dry_run_cpu_over_run_cpu`` (the dry run builds the same prompts, so about 1).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lara.config import resolve_spec  # noqa: E402
from lara.engine import RunOptions, run  # noqa: E402
from lara.estimate import estimate  # noqa: E402
from lara.pricing import load_prices  # noqa: E402
from lara.results.collect import collect  # noqa: E402


def main() -> None:
    data = os.environ.get("LARA_DATA_DIR")
    if not data and os.environ.get("LARA_SHARED_DATA"):
        data = str(Path(os.environ["LARA_SHARED_DATA"]) / "lara")
    if not data:
        sys.exit("set LARA_DATA_DIR or LARA_SHARED_DATA")
    os.environ["LARA_DATA_DIR"] = data
    model = f"replay:{Path(data) / 'predictions' / 'gpt-4o-mini'}"
    with tempfile.TemporaryDirectory() as tmp:
        options = RunOptions(output_root=Path(tmp), use_cache=False)
        for runner in ("lc", "rag"):
            spec = resolve_spec("lara-32k", runner, model, scorer="lexical")
            t0 = time.process_time()
            (e,) = estimate([spec], options, load_prices())
            t_dry = time.process_time() - t0
            t0 = time.process_time()
            res = run(spec, options)
            t_run = time.process_time() - t0
            recs = collect([res.run_dir]).records
            rec_in = sum(r.input_tokens for r in recs)
            rec_all = rec_in + sum(r.output_tokens for r in recs)
            print(f"{runner}_samples {e.samples}")
            print(f"{runner}_estimate_input_tokens {e.input_tokens}")
            print(f"{runner}_recorded_input_tokens {rec_in}")
            print(f"{runner}_estimate_over_recorded_input {e.input_tokens / rec_in:.4f}")
            print(f"{runner}_estimate_over_recorded_total {(e.input_tokens + e.output_tokens_expected) / rec_all:.4f}")
            print(f"{runner}_error_records {sum(r.outcome == 'error' for r in recs)}")
            print(f"{runner}_dry_run_cpu_over_run_cpu {t_dry / max(t_run, 1e-9):.2f}")


if __name__ == "__main__":
    main()
