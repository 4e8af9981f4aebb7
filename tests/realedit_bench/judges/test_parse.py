"""Reading judge replies: the robust parser (ours), the authors' released parser, refusals in words."""

from __future__ import annotations

import pytest

from realedit_bench.judges.parse import looks_like_refusal, parse_paper, parse_robust


# Robust parser -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, verdict, score",
    [
        ('{"verdict": "yes", "score": 4, "reason": "ok"}', True, 4.0),
        ("{'verdict': 'No', 'score': 2.5}", False, 2.5),
        ('```json\n{"verdict": "YES", "score": "3"}\n```', True, 3.0),
        ('Sure! Here it is: {"Verdict": "no.", "Score": 0} Hope that helps', False, 0.0),
        ('{"verdict": true, "score": 5.0}', True, 5.0),
        # Braces elsewhere in the prose do not hide the answer.
        ('Format: {"verdict": "yes|no", "score": 0-5}. Answer: {"verdict": "no", "score": 1, "reason": "x"}',
         False, 1.0),
        ('{"verdict": "yes", "score": 4, "reason": "the {object} went"} and a stray } here', True, 4.0),
        ('The {object} is gone. {"verdict": "yes", "score": 3}', True, 3.0),
        ('{"verdict": "yes", "score": 4}\n{"verdict": "yes", "score": 4, "reason": "again"}', True, 4.0),
        ("Here: {'verdict': 'no', 'score': 2.5, 'reason': 'a {b}'} done", False, 2.5),
        ('{"answer": {"verdict": "yes", "score": 5}}', True, 5.0),
    ],
)
def test_robust_parser_accepts_the_usual_shapes(text: str, verdict: bool, score: float) -> None:
    p = parse_robust(text)
    assert p.ok and p.verdict is verdict and p.score == score


@pytest.mark.parametrize(
    "text, problem",
    [
        ('{"verdict": "yes", "score": 7}', "outside the range"),
        ('{"verdict": "yes", "score": -1}', "outside the range"),
        ('{"verdict": "maybe", "score": 3}', "'yes' or 'no'"),
        ('{"verdict": "yes"}', "'score' is missing"),
        ('{"score": 3}', "'verdict' is missing"),
        ('{"verdict": "yes", "score": "high"}', "must be a number"),
        ('{"verdict": "yes", "score": NaN}', "must be a number"),
        ("The edit looks good, 4/5.", "not a JSON object"),
        ("", "empty"),
        # Two answers that disagree are not resolved by guessing.
        ('{"verdict": "yes", "score": 4}\n{"verdict": "no", "score": 1}', "disagree"),
    ],
)
def test_robust_parser_rejects_and_says_why(text: str, problem: str) -> None:
    p = parse_robust(text)
    assert not p.ok and p.verdict is None and p.score is None
    assert problem in (p.problem or "")


def test_robust_parser_uses_the_rubric_keys() -> None:
    p = parse_robust("{'following': 'yes', 'score': 4.5}", verdict_key="following", reason_key="")
    assert p.ok and p.verdict is True and p.score == 4.5 and p.reason is None


def test_two_agreeing_answers_keep_the_last() -> None:
    assert (
        parse_robust('{"verdict": "yes", "score": 4, "reason": "a"} {"verdict": "yes", "score": 4}').reason
        is None
    )


def test_a_long_reply_with_many_braces_before_the_answer_is_still_read() -> None:
    prose = "Consider the set {x} here. " * 300  # 300 stray braces, then the answer
    p = parse_robust(prose + '{"verdict": "no", "score": 2, "reason": "r"}')
    assert p.ok and p.verdict is False and p.score == 2


REQUIRED = {"reason_key": "failure", "reason_required_below": 5}


@pytest.mark.parametrize("reply", [
    '{"verdict": "no", "score": 2, "failure": "the hat is missing"}',
    '{"verdict": "yes", "score": 5, "failure": "None"}',  # perfect: nothing failed
])
def test_a_required_reason_is_accepted_when_it_names_something(reply: str) -> None:
    assert parse_robust(reply, **REQUIRED).ok


@pytest.mark.parametrize("reply", [
    '{"verdict": "no", "score": 2, "failure": "None"}', '{"verdict": "no", "score": 2}',
    '{"verdict": "no", "score": 4.5, "failure": " n/a. "}',
])
def test_a_required_reason_must_name_something(reply: str) -> None:
    p = parse_robust(reply, **REQUIRED)
    assert not p.ok and "must say what fell short" in (p.problem or "")
    assert parse_robust('{"verdict": "no", "score": 2}', reason_key="failure").ok  # not required by default


# Paper parser: the released script's rules, including their sharp edges -------------------------
@pytest.mark.parametrize("text, expected", [
    ("{'following': 'yes', 'score': 4.5}", (True, 4.5, True)),
    ("{'following': 'yes', 'score': 4}", (True, None, False)),  # integer score fails
    ('{"following": "yes", "score": 4.5}', (True, None, False)),  # double quotes fail
    ("{'following': 'Yes', 'score': 3.0}", (False, 3.0, True)),  # case-sensitive 'yes'
    ("{'clear': 'no', 'score': 1.0} (the eyes look odd)", (True, 1.0, True)),  # 'yes' inside 'eyes'
    (None, (False, None, False)),
])
def test_paper_parser_reproduces_the_released_rules(text: str | None, expected: tuple) -> None:
    assert parse_paper(text) == expected


@pytest.mark.parametrize("text, refusal", [
    ("I'm sorry, but I can't help with evaluating this image.", True),
    ("I cannot assist with that request.", True),
    ('{"verdict": "no", "score": 1, "reason": "sorry, the sky is warped"}', False),
])
def test_refusal_in_words(text: str, refusal: bool) -> None:
    assert looks_like_refusal(text) is refusal
