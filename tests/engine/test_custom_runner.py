"""A runner defined in a test module (not in lara) works everywhere with no edit elsewhere: lara run,
the leaderboard, the LaRA table (by its declared strategy) and route-eval."""

from __future__ import annotations

import pytest

import json
from pathlib import Path

from lara.cli import main
from lara.protocols import ContextBlock, RunContext
from lara.registry import runners
from lara.runners._steps import generate_step
from lara.testing.fixtures import make_fixture
from lara.types import RunOutput, Sample

pytestmark = pytest.mark.needs('bm25s')


@runners.register("test_head_lc")
class HeadOnlyLongContext:
    """Long context cut to the first 200 characters of each document (a toy variant)."""

    name = "test_head_lc"
    strategy = "long_context"
    whole_documents = True
    cost_params = ("chars",)

    def __init__(self, chars: int = 200) -> None:
        self.chars = chars

    async def run(self, sample: Sample, ctx: RunContext) -> RunOutput:
        text = "\n\n".join(d.load_text()[: self.chars] for d in sample.documents)
        step = await generate_step(ctx, ctx.task.messages(sample, ContextBlock(mode="long_context", text=text)))
        return RunOutput(answer=step.output, steps=(step,), effective_context_tokens=step.input_tokens)


def test_a_new_runner_needs_no_edit_elsewhere(tmp_path: Path, capsys) -> None:
    data = make_fixture(tmp_path / "lara")
    res = str(tmp_path / "res")
    code = main(["run", "--task", "lara", "--data-dir", str(data), "-T", "lengths=32k",
                 "--runner", "test_head_lc,rag", "-R", "chars=120", "-R", "k=2", "-R", "chunk_size=20",
                 "-R", "chunk_overlap=5", "--model", "mock", "-M", "answer=Hartman.", "--scorer", "lexical",
                 "-o", res])
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = [json.loads(x) for f in Path(res).glob("*/samples.jsonl") for x in f.read_text().splitlines()]
    mine = [r for r in lines if r["runner"] == "test_head_lc"]
    assert len(mine) == 6 and {r["strategy"] for r in mine} == {"long_context"}
    assert all(r["runner_params"]["chars"] == 120 for r in mine)

    assert main(["leaderboard", res, "--format", "json", "--by", "runner"]) == 0
    rows = {r["runner"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["test_head_lc"]["n"] == 6 and rows["rag"]["n"] == 6

    assert main(["leaderboard", res, "--style", "lara"]) == 0
    table = capsys.readouterr().out
    modes = [line.split("|")[3].strip() for line in table.splitlines()[2:] if line.startswith("|")]
    assert modes == ["LC", "RAG", "LC-RAG"]  # the new runner fills the LC column by its strategy

    assert main(["route-eval", res, "--policy", "rules"]) == 0
    text = capsys.readouterr().out
    assert "6 paired questions" in text and "always_lc" in text
