"""The one truncation policy: middle/left/right/skip/error on token ids and on text."""

from __future__ import annotations

import pytest

from lara.tokens import ContextTooLong, SkipSample, WordTokenizer, truncate_text, truncate_tokens


def test_truncate_tokens_policies():
    ids = list(range(10))
    assert truncate_tokens(ids, 4, "middle")[0] == [0, 1, 8, 9]
    assert truncate_tokens(ids, 5, "middle")[0] == [0, 1, 7, 8, 9]
    assert truncate_tokens(ids, 4, "right")[0] == [0, 1, 2, 3]
    assert truncate_tokens(ids, 4, "left")[0] == [6, 7, 8, 9]
    kept, rep = truncate_tokens(ids, 20, "middle")
    assert kept == ids and rep.dropped_tokens == 0 and not rep.truncated
    _, rep = truncate_tokens(ids, 4, "middle")
    assert (rep.original_tokens, rep.kept_tokens, rep.dropped_tokens) == (10, 4, 6)
    with pytest.raises(SkipSample) as exc:
        truncate_tokens(ids, 4, "skip")
    assert exc.value.report.dropped_tokens == 6
    with pytest.raises(ContextTooLong):
        truncate_tokens(ids, 4, "error")
    with pytest.raises(ValueError, match="valid"):
        truncate_tokens(ids, 4, "sideways")


def test_truncate_text_keeps_head_and_tail_words():
    tok = WordTokenizer()
    text = " ".join(f"w{i}" for i in range(100))
    out, rep = truncate_text(tok, text, 10, "middle")
    words = out.split()
    assert words[:5] == ["w0", "w1", "w2", "w3", "w4"] and words[-5:] == ["w95", "w96", "w97", "w98", "w99"]
    assert tok.count(out) == 10 and rep.dropped_tokens == 90


def test_word_tokenizer_round_trips():
    tok = WordTokenizer()
    text = "  Hello,  world!\nNew line  "
    assert tok.decode(tok.encode(text)) == text
