"""Reading judge replies: a robust parser (ours), the authors' parser (``--parse paper``), refusals.

The robust parser accepts a JSON object or a Python-dict string, optionally inside a code fence or
surrounded by prose (with braces of its own: every ``{`` is tried, see :func:`parse_robust`), any case of
yes/no (or a JSON boolean), integer or float scores, and rejects a
score outside the rubric's range. It never guesses: anything else is a failure with a reason that the
re-ask quotes back to the judge.

The paper parser reproduces the released evaluation script exactly: a verdict is yes when the
substring ``yes`` (lower case) occurs anywhere in the reply, and the score is read with the regex
``'score': (\\d+\\.\\d+)`` (so ``'score': 4`` and ``"score": 4.5`` both fail).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

#: The released script's score regex, verbatim.
PAPER_SCORE_RE = re.compile(r"'score': (\d+\.\d+)")

_YES = {"yes", "y", "true"}
_NO = {"no", "n", "false"}

# Phrases that open a refusal in words. Checked only on replies that do not parse, so a valid answer
# whose reason says "sorry" is never taken for a refusal.
_REFUSAL_RE = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry,|i apologi[sz]e|unfortunately,? i|i (?:can ?not|can't|cannot|won't|"
    r"am unable to|'m unable to|am not able to)|i must decline|as an ai)",
    re.I,
)


class Parsed(NamedTuple):
    """Outcome of reading one reply."""

    ok: bool
    verdict: bool | None = None
    score: float | None = None
    reason: str | None = None
    problem: str | None = None


class PaperParse(NamedTuple):
    """What the released script reads from one reply: ``ok`` is False when it would skip the sample."""

    verdict: bool
    score: float | None
    ok: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for :class:`~realedit_bench.schema.judge.JudgmentRow.paper_parse`."""
        return {"verdict": self.verdict, "score": self.score, "ok": self.ok}


def parse_paper(text: str | None) -> PaperParse:
    """Apply the authors' parser to one reply (a missing reply is a failure, as in their script)."""
    if not isinstance(text, str):
        return PaperParse(False, None, False)
    verdict = "yes" in text
    m = PAPER_SCORE_RE.search(text)
    return PaperParse(verdict, float(m.group(1)) if m else None, m is not None)


def looks_like_refusal(text: str | None) -> bool:
    """True when an unparseable reply reads as the judge declining the task."""
    if not text:
        return False
    return bool(_REFUSAL_RE.search(text.strip()))


#: At most this many opening braces are tried per reply, the last ones (the answer comes last; this caps
#: a pathological reply).
_MAX_STARTS = 200


def _matching_brace(text: str, start: int) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``start`` (quoted strings skipped), or None."""
    depth = 0
    quote: str | None = None
    i = start
    while i < len(text):
        ch = text[i]
        if quote is not None:  # inside a string: only its end (or an escape) matters
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
            i += 1
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "{}":
            depth += 1 if ch == "{" else -1
            if depth == 0:
                return i
        i += 1
    return None


def _objects(text: str) -> list[dict[str, Any]]:
    """Every object in the reply, in the order of its opening brace (nested ones too).

    From each ``{`` a JSON value is read with ``json.JSONDecoder().raw_decode``; where that fails, the
    balanced span is read as a Python literal (the authors' prompts ask for a Python-dict string). So
    braces elsewhere in the prose ("the {object}", an echoed format example) no longer spoil the answer.
    """
    decoder = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    starts = [i for i, ch in enumerate(text) if ch == "{"][-_MAX_STARTS:]
    for i in starts:
        obj: Any = None
        try:
            obj, _ = decoder.raw_decode(text, i)
        except (ValueError, RecursionError):
            end = _matching_brace(text, i)
            if end is not None:
                try:
                    obj = ast.literal_eval(text[i : end + 1])
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    obj = None
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _get(obj: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    if key in obj:
        return True, obj[key]
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    k = key.strip().lower()
    return (k in lowered), lowered.get(k)


def _verdict(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().strip(".!'\"").strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    return None


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_robust(
    text: str | None,
    *,
    verdict_key: str = "verdict",
    score_key: str = "score",
    reason_key: str = "reason",
    score_range: Sequence[float] = (0.0, 5.0),
    reason_required_below: float | None = None,
    verdict_threshold: float | None = None,
) -> Parsed:
    """Read a verdict, a score and a reason from one reply, or say precisely why not.

    Every object in the reply is found (:func:`_objects`); the answer is an object holding both the
    verdict and the score key. With several such objects (an echoed format example, the answer
    written twice), the **last** valid one is taken, since a judge that reasons or repeats the format
    first ends with its answer; but when two valid answers disagree on the verdict or the score, the
    reply is rejected (the re-ask asks for exactly one) rather than one of them picked.

    With ``reason_required_below``, a score under that value needs a reason naming something: an empty
    or "None"-like reason is then a failure (the reward data would otherwise say "nothing failed").

    With an empty ``verdict_key`` (a judge that gives a score alone), the answer is the object holding the
    score and the verdict is ``score >= verdict_threshold``.
    """
    if not text or not text.strip():
        return Parsed(False, problem="the reply was empty")
    objects = _objects(text)
    if not objects:
        return Parsed(False, problem="the reply is not a JSON object")

    def read(obj: Mapping[str, Any]) -> Parsed:
        return _read_answer(obj, verdict_key=verdict_key, score_key=score_key, reason_key=reason_key,
                            score_range=score_range, reason_required_below=reason_required_below,
                            verdict_threshold=verdict_threshold)

    answers = [o for o in objects if (not verdict_key or _get(o, verdict_key)[0]) and _get(o, score_key)[0]]
    if not answers:
        # Report on the object closest to an answer: the last with one of the keys, else the outermost.
        partial = [o for o in objects if _get(o, verdict_key)[0] or _get(o, score_key)[0]]
        return read(partial[-1] if partial else objects[0])
    reads = [read(o) for o in answers]
    valid = [p for p in reads if p.ok]
    if not valid:
        return reads[-1]
    distinct = list(dict.fromkeys((p.verdict, p.score) for p in valid))
    if len(distinct) > 1:
        shown = "; ".join(f"{verdict_key}={'yes' if v else 'no'}, {score_key}={s:g}" for v, s in distinct
                          if s is not None)
        return Parsed(False, problem=f"the reply holds {len(valid)} answers that disagree ({shown}); "
                      f"give exactly one object")
    return valid[-1]


def _read_answer(
    obj: Mapping[str, Any],
    *,
    verdict_key: str,
    score_key: str,
    reason_key: str,
    score_range: Sequence[float],
    reason_required_below: float | None,
    verdict_threshold: float | None = None,
) -> Parsed:
    """Check one candidate answer object (keys, yes/no, finite in-range score, reason when required)."""
    verdict: bool | None = None
    if verdict_key:
        has_v, raw_v = _get(obj, verdict_key)
        if not has_v:
            return Parsed(False, problem=f"the key {verdict_key!r} is missing")
        verdict = _verdict(raw_v)
        if verdict is None:
            return Parsed(False, problem=f"{verdict_key!r} must be 'yes' or 'no', got {raw_v!r}")
    has_s, raw_s = _get(obj, score_key)
    if not has_s:
        return Parsed(False, problem=f"the key {score_key!r} is missing")
    score = _score(raw_s)
    if score is None or not math.isfinite(score):
        return Parsed(False, problem=f"{score_key!r} must be a number, got {raw_s!r}")
    lo, hi = score_range
    if not lo <= score <= hi:
        return Parsed(False, problem=f"{score_key!r} is {score:g}, outside the range {lo:g} to {hi:g}")
    reason = None
    raw_r = None
    if reason_key:
        _, raw_r = _get(obj, reason_key)
        reason = str(raw_r).strip() if raw_r is not None else None
    if reason_required_below is not None and score < reason_required_below:
        if not reason or reason.strip(" .").lower() in _NO_REASON:
            return Parsed(
                False,
                problem=f"the score is {score:g}, so {reason_key!r} must say what fell short "
                f"(it was {raw_r!r})"
                if reason_key
                else "a reason is required",
            )
    if not verdict_key:
        verdict = verdict_threshold is not None and score >= verdict_threshold
    return Parsed(True, verdict, score, reason)


#: Reasons that say nothing: not acceptable where a reason is required.
_NO_REASON = {"", "none", "n/a", "na", "null", "nothing", "-", "no failure"}


def paper_parse_as_parsed(text: str | None) -> Parsed:
    """The paper parser's reading in :class:`Parsed` form (used by ``--parse paper``)."""
    p = parse_paper(text)
    if not p.ok:
        return Parsed(False, problem="no \"'score': <d.d>\" in the reply (paper parser)")
    return Parsed(True, p.verdict, p.score, None)
