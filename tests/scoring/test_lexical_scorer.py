"""The offline LaRA judge stand-in: a verdict table of hand-written cases per category."""

from __future__ import annotations

import asyncio

import pytest

from lara.registry import scorers
from lara.scoring.lexical import KIND, SCORER_ID, is_refusal, lexical_verdict, quantities
from lara.types import RunOutput, Sample

# (category, question, reference, answer, expected value)
CASES = [
    # location: short spans, quotes and extra words around them
    ("location", "What record did Miles buy for Stella and accidentally break?", "Little Shirley Beans.",
     'Miles bought Stella the record "Little Shirley Beans," which he broke.', 1),
    ("location", "What record did Miles buy for Stella and accidentally break?", "Little Shirley Beans.",
     "He bought her a jazz album by Estelle Fletcher.", 0),
    # numbers with commas, scale words and percentages
    ("location", "What was the carrying value of total debt as of December 31, 2023?", "$1,580,487 thousand.",
     "The carrying value was $1,580,487 (in thousands).", 1),
    ("location", "What was the carrying value of total debt as of December 31, 2023?", "$1,580,487 thousand.",
     "It was $1,580,487 thousands.", 1),
    ("location", "What was the carrying value of total debt as of December 31, 2023?", "$1,580,487 thousand.",
     "The carrying value of total debt was $1,480,487 thousand.", 0),
    ("location", "What was the gross margin in 2024?", "The gross margin was 45.7%.",
     "Gross margin reached 45.7 percent.", 1),
    ("location", "What was the gross margin in 2024?", "The gross margin was 45.7%.",
     "Gross margin reached 14.1%.", 0),
    # refusal on an answerable question is wrong
    ("location", "What is the name of the lodging-house owned by Mme. Bouchard?", "Maison Vauquer.",
     "The text does not mention the name of the lodging-house.", 0),
    # reasoning: the first sentence of the reference is the answer, the rest elaboration
    ("reasoning", "How did the line of credit balance compare to its limit as of March 31, 2024?",
     "The outstanding amount is $13,780, far below the maximum limit of $1,500,000. This leaves credit available.",
     "The outstanding balance was $0 and the limit is $1,500,000.", 0),
    ("reasoning", "By how much did net accounts receivable increase?",
     "Net accounts receivable increased by $3,149,487, rising from $9,843,056 to $12,992,543. This drove cash usage.",
     "They increased by $3,149,487, from $9,843,056 to $12,992,543.", 1),
    ("reasoning", "Why is Lucian reluctant to be away from his house for long periods?",
     "Lucian is afraid that someone might gain access to the locked room where the portrait is hidden and discover his secret.",
     "Because he fears someone could get into the locked room, find the hidden portrait and learn his secret.", 1),
    ("reasoning", "Why is Lucian reluctant to be away from his house for long periods?",
     "Lucian is afraid that someone might gain access to the locked room where the portrait is hidden and discover his secret.",
     "He dislikes travelling by train and prefers gardening in autumn weather.", 0),
    # comparison: both sides needed; relations between numbers count
    ("comparison", "How did the net income attributable to controlling interest change from 2023 to 2024?",
     "It decreased from $884,369 in 2023 to $457,226 in 2024.", "It decreased by $427,143.", 1),
    ("comparison", "How did revenue change from 2023 to 2024?",
     "Revenue decreased from $10,165,171 in 2023 to $7,650,981 in 2024.", "Revenue fell by 24.7%.", 1),
    ("comparison", "How do Scrooge's and Fred's views of Christmas differ?",
     "Scrooge views Christmas with disdain as a time for paying bills, while Fred sees it as a joyful generous time.",
     "Scrooge treats it with disdain, a season for paying bills; his nephew finds it joyful and generous.", 1),
    ("comparison", "How do Scrooge's and Fred's views of Christmas differ?",
     "Scrooge views Christmas with disdain as a time for paying bills, while Fred sees it as a joyful generous time.",
     "Scrooge views Christmas with disdain, considering it a time for paying bills without money, a humbug season.", 0),
    # hallucination: the correct answer is that the text is silent
    ("hallucination", "What kind of music did the Morlocks play?",
     "The text does not mention any music played by the Morlocks.",
     "The text doesn't say anything about Morlock music.", 1),
    ("hallucination", "What kind of music did the Morlocks play?",
     "The text does not mention any music played by the Morlocks.",
     "There is no information about this in the provided chunks.", 1),
    ("hallucination", "What kind of music did the Morlocks play?",
     "The text does not mention any music played by the Morlocks.",
     "The answer cannot be determined from the text.", 1),
    ("hallucination", "What kind of music did the Morlocks play?",
     "The text does not mention any music played by the Morlocks.",
     "The Morlocks played slow drum music around their machines.", 0),
    ("hallucination", "What is the projected revenue growth rate for next year?",
     "The financial statement does not provide a projected growth rate.",
     "The text does not provide this. However, I can provide a possible answer: it is likely about 5%.", 0),
    # category aliases used in the LaRA file names
    ("hallu", "What kind of music did the Morlocks play?", "Not mentioned.", "Not mentioned in the text.", 1),
    ("comp", "How did revenue change from 2023 to 2024?",
     "Revenue decreased from $10,165,171 in 2023 to $7,650,981 in 2024.", "Revenue rose to $12 million.", 0),
]


@pytest.mark.parametrize("category,question,reference,answer,expected", CASES)
def test_verdict_table(category: str, question: str, reference: str, answer: str, expected: int) -> None:
    value, status, why = lexical_verdict(question, answer, reference, category)
    assert status == "ok"
    assert value == expected, why


# Book texts replace character names: an answer quoting the replacement names ("Frederick Hale" for
# Winterbourne) is judged on what it says, not penalised for names absent from the reference; the
# same answer about a paper (where a foreign name is a claim) is not given that allowance.
# (question, reference, answer, context_type, expected value)
BOOK_Q = "How do Winterbourne's interactions with Daisy at Vevey compare to those in Rome?"
BOOK_R = ("At Vevey, Winterbourne is charmed by Daisy's sociability, but in Rome he becomes puzzled and "
          "concerned by her impropriety.")
RENAMED_RIGHT = ("At Vevey Frederick Hale, visiting Aunt Harlow Kensington, is charmed by Annie Lowell's "
                 "sociability; later Frederick is puzzled by Annie in Rome.")
RENAMED_WRONG = ("At Vevey Frederick Hale, visiting Aunt Harlow Kensington, is bored by Annie Lowell's "
                 "company; later Frederick is delighted by Annie in Rome.")
NAME_CASES = [
    (BOOK_Q, BOOK_R, RENAMED_RIGHT, "book", 1),
    (BOOK_Q, BOOK_R, RENAMED_RIGHT, "paper", 0),
    (BOOK_Q, BOOK_R, RENAMED_WRONG, "book", 0),  # neutral names do not make a wrong answer right
    (BOOK_Q, BOOK_R, RENAMED_WRONG, None, 0),
    # a name the reference itself has still counts as support in book answers
    ("What record did Miles buy for Stella and accidentally break?", "Little Shirley Beans, by Estelle Fletcher.",
     "He bought the Little Shirley Beans record by Estelle Fletcher for his sister.", "book", 1),
]


@pytest.mark.parametrize("question,reference,answer,context_type,expected", NAME_CASES)
def test_book_replacement_names_are_neutral(
    question: str, reference: str, answer: str, context_type: str | None, expected: int
) -> None:
    category = "location" if "record" in question else "comparison"
    value, status, why = lexical_verdict(question, answer, reference, category, context_type)
    assert status == "ok"
    assert value == expected, why


def test_missing_answer_is_error_and_empty_answer_is_wrong() -> None:
    assert lexical_verdict("q?", None, "ref", "location")[:2] == (None, "error")
    assert lexical_verdict("q?", "   ", "ref", "location")[:2] == (0, "ok")
    assert lexical_verdict("q?", "", "The text does not mention it.", "hallucination")[:2] == (0, "ok")


@pytest.mark.parametrize(
    "text,refuses",
    [
        ("The passage doesn't specify the date.", True),
        ("This is not explicitly mentioned in the paper.", True),
        ("No information is provided about it.", True),
        ("The author is not named in the text.", True),
        ("It remains unknown.", True),
        ("The company reported net income of $5 million.", False),
        ("He did not hesitate to sign the contract.", False),
    ],
)
def test_refusal_detection(text: str, refuses: bool) -> None:
    assert is_refusal(text) is refuses


def test_number_parsing_commas_scales_percent() -> None:
    qs = quantities("Revenue of $1,580,487 thousand, up 16.7%, or $2.7 million and three units")
    values = [(q.raw, q.raw * q.scale, q.percent) for q in qs]
    assert (1580487.0, 1580487000.0, False) in values
    assert (16.7, 16.7, True) in values
    assert (2.7, 2.7e6, False) in values
    assert any(v[0] == 3.0 for v in values)


def test_registered_scorer_labels_itself_as_fallback() -> None:
    scorer = scorers.get("lexical")()
    assert scorer.name == "lexical"
    sample = Sample(
        id="s1",
        question="What record did Miles buy?",
        references=("Little Shirley Beans.",),
        metadata={"category": "location", "context_type": "book"},
    )
    ok = asyncio.run(scorer.score(sample, RunOutput(answer='He bought "Little Shirley Beans".')))
    assert (ok.value, ok.status, ok.scorer) == (1.0, "ok", SCORER_ID)
    assert ok.details["kind"] == KIND
    failed = asyncio.run(scorer.score(sample, RunOutput(answer=None)))
    assert failed.status == "error" and failed.value is None
    with pytest.raises(TypeError):
        scorers.get("lexical")(threshold=0.5)


def test_real_loader_categories_reach_the_rules(tmp_path) -> None:
    """Samples as the LaRA task emits them: the hallucination rule applies to "hallucination"."""
    from lara.testing.fixtures import fixture_samples

    by_cat = {}
    for s in fixture_samples(tmp_path / "lara"):
        by_cat.setdefault(s.metadata["category"], s)
    scorer = scorers.get("lexical")()
    refusal = "The text does not mention it."
    hallu = by_cat["hallucination"]
    assert asyncio.run(scorer.score(hallu, RunOutput(answer=refusal))).value == 1.0
    assert asyncio.run(scorer.score(hallu, RunOutput(answer="Size 9."))).value == 0.0
    assert asyncio.run(scorer.score(hallu, RunOutput(answer=refusal))).details["category"] == "hallucination"
    assert asyncio.run(scorer.score(by_cat["location"], RunOutput(answer=refusal))).value == 0.0
