"""The rows and wording of the agreement tables, shared by the terminal view and the site page.

A statistic that is undefined shows ``n/a`` with a numbered footnote carrying its reason: nothing shows
NaN. Labels say what is pooled and what is within-model, since pooling over models inflates correlation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from realedit_bench.schema.agree import JudgeAgreement, PerspectiveAgreement, Stat


class StatRow(NamedTuple):
    """One line of the agreement table."""

    section: str
    label: str
    get: Callable[[PerspectiveAgreement], Stat]


#: The main table, in reading order.
STAT_ROWS: tuple[StatRow, ...] = (
    StatRow("sample level, pooled over models", "Spearman rho", lambda p: p.sample.pooled.spearman),
    StatRow("sample level, pooled over models", "Kendall tau-b", lambda p: p.sample.pooled.kendall_tau_b),
    StatRow("sample level, pooled over models", "Pearson r", lambda p: p.sample.pooled.pearson),
    StatRow(
        "sample level, within model (Fisher-z mean)",
        "Spearman rho",
        lambda p: p.sample.within_model_fisher.spearman,
    ),
    StatRow(
        "sample level, within model (Fisher-z mean)",
        "Kendall tau-b",
        lambda p: p.sample.within_model_fisher.kendall_tau_b,
    ),
    StatRow(
        "sample level, within model (Fisher-z mean)",
        "Pearson r",
        lambda p: p.sample.within_model_fisher.pearson,
    ),
    StatRow("verdict vs human majority", "accuracy", lambda p: p.verdict.accuracy),
    StatRow("verdict vs human majority", "Cohen's kappa", lambda p: p.verdict.cohen_kappa),
    StatRow("ordinal", "quadratic kappa vs consensus", lambda p: p.ordinal.qwk_judge_vs_consensus),
    StatRow("ordinal", "alpha humans (ordinal)", lambda p: p.ordinal.alpha_humans_ordinal),
    StatRow("ordinal", "alpha humans + judge (ordinal)", lambda p: p.ordinal.alpha_with_judge_ordinal),
    StatRow("ordinal", "alpha humans (interval)", lambda p: p.ordinal.alpha_humans_interval),
    StatRow("ordinal", "alpha humans + judge (interval)", lambda p: p.ordinal.alpha_with_judge_interval),
    StatRow(
        "judge vs one human (leave one out)", "Spearman judge vs rest", lambda p: p.fair.loo_spearman_judge
    ),
    StatRow(
        "judge vs one human (leave one out)", "Spearman human vs rest", lambda p: p.fair.loo_spearman_human
    ),
    StatRow(
        "judge vs one human (leave one out)", "difference judge - human", lambda p: p.fair.loo_spearman_diff
    ),
    StatRow(
        "judge vs one human (leave one out)", "quadratic kappa judge-human", lambda p: p.fair.qwk_judge_human
    ),
    StatRow(
        "judge vs one human (leave one out)", "quadratic kappa human-human", lambda p: p.fair.qwk_human_human
    ),
    StatRow("judge vs one human (leave one out)", "difference judge - human", lambda p: p.fair.qwk_diff),
    StatRow("bias", "mean judge - human score", lambda p: p.bias.overall),
    StatRow("system level (model ranking)", "Kendall tau-b", lambda p: p.system.kendall_tau_b),
    StatRow("system level (model ranking)", "Spearman rho", lambda p: p.system.spearman),
)


#: The key numbers of the short terminal view (``realedit agree`` without ``--verbose``).
KEY_ROWS: tuple[StatRow, ...] = (
    StatRow("", "Spearman, within model", lambda p: p.sample.within_model_fisher.spearman),
    StatRow("", "accuracy vs majority", lambda p: p.verdict.accuracy),
    StatRow("", "quadratic kappa", lambda p: p.ordinal.qwk_judge_vs_consensus),
    StatRow("", "bias (judge - human)", lambda p: p.bias.overall),
    StatRow("", "ranking Kendall tau-b", lambda p: p.system.kendall_tau_b),
)


def fmt_value(v: float | None, digits: int = 3) -> str:
    """A number for a table; ``n/a`` for None (never 'nan')."""
    if v is None or v != v:  # v != v: NaN, which the schema never holds but a hand-edited file might
        return "n/a"
    return f"{v + 0.0:.{digits}f}".replace("-0." + "0" * digits, "0." + "0" * digits)  # no '-0.000'


def fmt_interval(s: Stat, digits: int = 3) -> str:
    """``[low, high]``; ``[n/a]`` for a value without an interval (its note says why); empty if no value."""
    if s.low is None or s.high is None:
        return "[n/a]" if s.value is not None else ""
    return f"[{s.low:.{digits}f}, {s.high:.{digits}f}]"


def describe_source(j: JudgeAgreement) -> str:
    """Where a judge's scores came from, with the rubric and reply parser of judgments."""
    if j.source != "judgments":
        return j.source
    parser = {"robust": "robust parser", "paper": "the authors' parser (--parse paper)"}.get(
        j.parse_mode or ""
    )
    return ", ".join(x for x in ("judgments", f"rubric {j.rubric}" if j.rubric else None, parser) if x)


def fmt_p(p: float | None) -> str:
    """A chance probability: plain below 1e-3 in scientific notation."""
    if p is None:
        return "n/a"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


class Footnotes:
    """Numbered notes: the same text gets the same number."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def mark(self, text: str | None) -> str:
        """Return a marker like ``[2]`` for ``text`` (empty for None)."""
        if not text:
            return ""
        if text not in self.items:
            self.items.append(text)
        return f"[{self.items.index(text) + 1}]"
