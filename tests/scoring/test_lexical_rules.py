"""The lexical scorer's rules that read meaning: synonyms, restated questions, refusals that name
the source, comparison sides and sentence ends. Questions and references are LaRA's own."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lara.registry import scorers
from lara.scoring.lexical import comparison_sides, declines, first_sentence, lexical_verdict
from lara.types import RunOutput, Sample

# A few WordNet senses, in WordNet's index format (tests/scoring/conftest.py writes them).
SENSES = [
    ("v", 100, ["puzzle", "perplex", "mystify"]),
    ("a", 200, ["critical", "disapproving"]),
    ("v", 300, ["see", "witness"]),
]
EXCEPTIONS = {"saw": ["see"]}

DAISY_Q = ("How do Winterbourne's perceptions of Daisy Miller's behavior evolve from their trip to the "
           "Castle of Chillon to her time in Rome?")
DAISY_R = ("Initially, Winterbourne is charmed and intrigued by Daisy's carefree demeanor during their "
           "trip to Chillon, but later in Rome, he becomes perplexed and critical of her actions.")
DAISY_A = "At first he finds her carefree ways charming; in Rome her conduct leaves him puzzled and disapproving."


def test_a_synonym_states_the_reference(tmp_path: Path, use_wordnet, write_wordnet) -> None:
    """The judge reads meaning: "puzzled and disapproving" says "perplexed and critical"."""
    use_wordnet(tmp_path / "absent")
    assert lexical_verdict(DAISY_Q, DAISY_A, DAISY_R, "comparison", "book")[0] == 0
    use_wordnet(write_wordnet(tmp_path / "wn", SENSES, EXCEPTIONS))
    value, status, why = lexical_verdict(DAISY_Q, DAISY_A, DAISY_R, "comparison", "book")
    assert (value, status) == (1, "ok"), why


def test_restating_the_question_in_other_words_is_no_evidence(tmp_path: Path, use_wordnet, write_wordnet) -> None:
    """ "saw" restates the question's "see": an answer that names nobody has said nothing."""
    use_wordnet(write_wordnet(tmp_path / "wn", SENSES, EXCEPTIONS))
    q = "Who did Andre see leaving the Countess de Laroche's house by the back staircase?"
    wrong = "Andre saw a man leaving the Countess de Laroche's house by the back staircase."
    assert lexical_verdict(q, wrong, "Father Duval.", "location", "book")[0] == 0
    assert lexical_verdict(q, "He saw Father Duval.", "Father Duval.", "location", "book")[0] == 1


def test_registered_scorer_records_its_lexicon(tmp_path: Path, use_wordnet, write_wordnet) -> None:
    sample = Sample(id="s", question=DAISY_Q, references=(DAISY_R,),
                    metadata={"category": "comparison", "context_type": "book"})
    scorer = scorers.get("lexical")()
    use_wordnet(write_wordnet(tmp_path / "wn", SENSES, EXCEPTIONS))
    assert asyncio.run(scorer.score(sample, RunOutput(answer=DAISY_A))).details["lexicon"] == "wordnet-3.0"
    use_wordnet(tmp_path / "absent")
    assert asyncio.run(scorer.score(sample, RunOutput(answer=DAISY_A))).details["lexicon"] == "none"


MONKEY_Q = "Why does the Monkey King refuse Elara's request to fly her to Kansas?"
MONKEY_R = "The Winged Monkeys cannot leave their country and have never crossed the desert."


def test_a_negated_claim_about_the_story_is_not_a_refusal() -> None:
    """ "cannot leave it" is what the story says, so the judge counts it as an answer; "the text
    does not say" names the source and declines."""
    assert not declines("Because the Winged Monkeys belong to the Land of Zor and cannot leave it.")
    assert lexical_verdict(MONKEY_Q, "Because the Winged Monkeys belong to the Land of Zor and cannot leave it.",
                           MONKEY_R, "location", "book")[0] == 1
    refusal = "The text does not say why; it only mentions that the Winged Monkeys serve the Golden Cap."
    assert declines(refusal)
    assert lexical_verdict(MONKEY_Q, refusal, MONKEY_R, "location", "book")[0] == 0
    assert declines("There is no information about Lenina in the provided chunks.")
    assert not declines("The overhead introduced by TetriInfer cannot be offset for HPHD workloads.")


DORIAN_Q = "What are the different reactions of Dorian Gray to Sibyl Vane's death before and after learning about it?"
DORIAN_R = ("Initially, Dorian resolves to marry Sibyl as a way of making amends, but after learning of her "
            "death, he exhibits a detached and aesthetic view of the tragedy, perceiving it as a dramatic "
            "event rather than a personal loss.")


def test_a_comparison_has_two_sides_split_at_the_first_contrast() -> None:
    """ "rather than a personal loss" qualifies the second side; it is not a third side an answer
    must also cover."""
    sides = comparison_sides(DORIAN_R, DORIAN_Q)
    assert len(sides) == 2 and sides[1].rstrip(".").endswith("personal loss")
    answer = ("First he resolves to marry Sibyl to make amends; once he learns of her death he treats the "
              "tragedy with detached, aesthetic interest, as a dramatic event.")
    value, _, why = lexical_verdict(DORIAN_Q, answer, DORIAN_R, "comparison", "book")
    assert value == 1, why
    one_side = "He resolves to marry Sibyl to make amends for his cruelty."
    assert lexical_verdict(DORIAN_Q, one_side, DORIAN_R, "comparison", "book")[0] == 0


def test_a_marker_at_the_start_does_not_split_the_reference() -> None:
    ref = "Unlike the police, Dupin considers the unusual characteristics of the crime."
    assert comparison_sides(ref, "How does Dupin's method differ from the police's?") == [ref]


BLACKWOOD_Q = "What makes Mr. Blackwood ultimately become suspicious that Dr. Hawthorne may have been involved with Raven's crimes?"
BLACKWOOD_R = ("Mr. Blackwood's suspicions arise when he sees striking similarities between Dr. Hawthorne's "
               "handwriting and a letter sent by the murderer Raven. Upon comparison, the handwriting is "
               "nearly identical but differently sloped.")


def test_an_abbreviation_does_not_end_the_reasoning_answer() -> None:
    """The first sentence of a reasoning reference is its answer; "Mr." does not end it (it left
    an empty answer that every reply covered)."""
    assert first_sentence(BLACKWOOD_R).endswith("the murderer Raven")
    assert first_sentence("Revenue rose 5%. Costs fell.") == "Revenue rose 5%"
    assert first_sentence("J. K. Rowling wrote it. Later more.") == "J. K. Rowling wrote it"
    wrong = ("Thatcher, the butler, reveals that the figure in the mask was a much smaller man, and "
             "Hawthorne's behavior has become erratic and sinister.")
    assert lexical_verdict(BLACKWOOD_Q, wrong, BLACKWOOD_R, "reasoning", "book")[0] == 0
    right = "He notices that Hawthorne's handwriting is strikingly similar to the letter Raven the murderer sent."
    assert lexical_verdict(BLACKWOOD_Q, right, BLACKWOOD_R, "reasoning", "book")[0] == 1


def test_only_an_opening_refusal_declines() -> None:
    """A note after the answer that one detail is not given does not retract the answer."""
    q = ("How much did Blue Star Foods Corp.'s inventory decrease from December 31, 2023, to March 31, "
         "2024, and what was a key contributing factor to this change?")
    r = ("Blue Star Foods Corp.'s inventory decreased from $2,608,521 on December 31, 2023, to $2,280,480 "
         "on March 31, 2024, marking a reduction of $328,041. A key contributing factor was the recorded "
         "inventory allowance of $336,049 during the three months ended March 31, 2024.")
    noted = ("Blue Star Foods Corp.'s inventory decreased by $328,041 from $2,608,521 on December 31, 2023, "
             "to $2,280,480 on March 31, 2024. However, the chunks provided do not specify a key "
             "contributing factor to this change.")
    assert not declines(noted)
    assert lexical_verdict(q, noted, r, "reasoning", "financial")[0] == 1
    opening = ("The chunks provided do not specify how much the inventory decreased. They mention "
               "inventory of $2,280,480.")
    assert declines(opening)
    assert lexical_verdict(q, opening, r, "reasoning", "financial")[0] == 0


def test_cannot_declines_only_when_the_answer_cannot_be_had() -> None:
    """ "LLMs cannot verify their own solutions" is the answer to a question about LLMs; "this
    question cannot be answered from the given text" and "I cannot determine ..." decline."""
    assert declines("This question cannot be answered from the given text.")
    assert declines("I cannot determine the exact amount from the provided chunks.")
    assert declines("It is not possible to determine the date from the excerpts.")
    assert declines("The company did not explicitly state the inventory impairment loss.")
    assert not declines("LLMs can't verify their own solutions, so their self-critiques are unreliable.")
    assert not declines("FP1 occurs when a question cannot be answered from the available documents.")
    assert not declines("Evelyn believes it is impossible to find love by the river.")
    q = "According to paper 0, what is the main issue with LLMs trying to self-improve by generating synthetic data?"
    r = "LLMs cannot verify their own solutions, which makes self-critique and self-improvement with synthetic data ineffective."
    a = "LLMs can't verify their own solutions, so their self-critiques and refinements are unlikely to be correct."
    assert lexical_verdict(q, a, r, "location", "paper")[0] == 1


def test_a_change_in_the_opposite_direction_is_wrong() -> None:
    """Both figures right, direction reversed: the judge compares with the groundtruth's direction
    (even where the reference's own arithmetic is off, as in LaRA's "decreased from 63% to 91%")."""
    from lara.scoring.lexical_numbers import changes, contradicts

    q = ("How did the net income attributable to controlling interest change from the three months ended "
         "March 31, 2023, to the same period in 2024?")
    r = ("The net income attributable to controlling interest decreased from $884,369 in the three months "
         "ended March 31, 2023, to $457,226 in the same period in 2024.")
    reversed_ = "The net income attributable to controlling interest increased from $884,369 in 2023 to $457,226 in 2024."
    value, _, why = lexical_verdict(q, reversed_, r, "comparison", "financial")
    assert value == 0 and "opposite" in why
    assert lexical_verdict(q, reversed_.replace("increased", "fell"), r, "comparison", "financial")[0] == 1
    odd = "Customer A's share decreased from 63% as of March 31, 2023, to 91% as of March 31, 2024."
    assert not contradicts(odd, "It decreased from 63% to 91%.") and contradicts(odd, "It rose from 63% to 91%.")
    assert changes("Revenue decreased from 2022 to 2023.") == []  # years are dates, not the change's ends
    (up, a, b), = changes("net loss increased from ($2,637,956) to ($6,884,409)")
    assert up and (a.raw, b.raw) == (2637956.0, 6884409.0)


def test_figures_compare_by_value_with_scale_words_applied() -> None:
    """ "$173,413" is a thousandth of "$173,413 thousand" (both used to pass as the same digits); a
    text's "(in thousands)" scales its bare figures. (LaRA financial location questions.)"""
    q = "What were the total assets of The Chosen, Inc. as of March 31, 2024?"
    assert lexical_verdict(q, "$173,413", "$173,413 thousand.", "location", "financial")[0] == 0
    assert lexical_verdict(q, "$173,413 thousand", "$173,413 thousand.", "location", "financial")[0] == 1
    assert lexical_verdict(q, "$173,413 (in thousands)", "$173,413 thousand.", "location", "financial")[0] == 1
    q = "What is the total term debt as of March 31, 2024?"
    assert lexical_verdict(q, "$4,391 thousand", "$4,391.", "location", "financial")[0] == 0


def test_figures_match_at_the_coarser_written_precision() -> None:
    """A rounded reference stands for what rounds to it; a year is exact (no relative tolerance)."""
    q = "How did total revenue in 2023 compare with 2022?"
    r = "Revenue grew to $2.50 billion in 2023 from $2.08 billion in 2022."
    assert lexical_verdict(q, "It grew to $2,499,766,000 from $2,084,279,000.", r, "comparison", "financial")[0] == 1
    assert lexical_verdict(q, "It grew to $2,399,766,000 from $2,084,279,000.", r, "comparison", "financial")[0] == 0
    q = "When will the license agreement with Mayo expire?"
    r = "The license agreement will remain in effect until the last of the licensed patents expires in 2039."
    assert lexical_verdict(q, "In 2039, when the last licensed patent expires.", r, "location", "financial")[0] == 1
    assert lexical_verdict(q, "In 2043, when the last licensed patent expires.", r, "location", "financial")[0] == 0


def test_number_words_and_hedges_are_left_to_the_number_rules() -> None:
    """ "12 gates" answers "Twelve."; "$60,000" answers "Approximately $60,000."."""
    assert lexical_verdict("How many gates does the city described by Ethan have?", "12 gates", "Twelve.",
                           "location", "book")[0] == 1
    assert lexical_verdict("How many gates does the city described by Ethan have?", "11 gates", "Twelve.",
                           "location", "book")[0] == 0
    q = "What was the unrealized gain on the Convergent Convertible Note for the three months ended March 31, 2024?"
    assert lexical_verdict(q, "$60,000", "Approximately $60,000.", "location", "financial")[0] == 1


def test_a_figure_the_question_states_is_no_evidence() -> None:
    """ "April 2nd" is the question's date; 7 - 5 = 2 must not make it a relation between the
    reference's figures."""
    q = "At what time did the entire surface in view become enveloped in darkness on April 2nd?"
    a = "The provided text describes events starting on April 3rd. There is no information about April 2nd."
    assert lexical_verdict(q, a, "At five minutes before seven.", "location", "book")[0] == 0
    assert lexical_verdict(q, "Five minutes before seven.", "At five minutes before seven.", "location", "book")[0] == 1
