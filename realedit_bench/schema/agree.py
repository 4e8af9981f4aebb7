"""``agreement.json``: how far a judge agrees with human raters (``realedit agree``).

Every statistic is a :class:`Stat`: a value with a 95% cluster-bootstrap interval (source photos
resampled, the same draws for every model, rater and statistic), the number of items behind it, and a
``note`` that says why the value is missing or what to keep in mind. A value is never NaN: an undefined
statistic is ``null`` with its reason in ``note``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from realedit_bench.schema.base import Row


class _Part(BaseModel):
    """A nested part of the report: strict like a row, versioned by the report that holds it."""

    model_config = ConfigDict(extra="forbid")


class Stat(_Part):
    """One statistic with its bootstrap interval."""

    value: float | None = Field(
        default=None, description="Point estimate on the full data; null when undefined."
    )
    low: float | None = Field(default=None, description="Lower end of the bootstrap interval.")
    high: float | None = Field(default=None, description="Upper end of the bootstrap interval.")
    n: int = Field(default=0, description="Items (or rating pairs, or systems) the value is computed on.")
    n_undefined_resamples: int = Field(
        default=0,
        description="Bootstrap resamples where the statistic was undefined (left out of the interval).",
    )
    note: str | None = Field(default=None, description="Why the value is missing, or a caveat about it.")


class CorrelationSet(_Part):
    """Three correlations of the judge score with the mean human score over the same items."""

    spearman: Stat = Field(description="Spearman's rho (average ranks for ties).")
    kendall_tau_b: Stat = Field(description="Kendall's tau-b (corrected for ties).")
    pearson: Stat = Field(description="Pearson's r.")


class SampleLevel(_Part):
    """Sample level: the judge's score of each edit against the mean human score of that edit."""

    pooled: CorrelationSet = Field(
        description="Over all models' edits together. Differences between models inflate this figure."
    )
    within_model: dict[str, CorrelationSet] = Field(description="Per editing model, over its own edits only.")
    within_model_fisher: CorrelationSet = Field(
        description="Average of the within-model correlations: tanh of the mean of arctanh(r) over models."
    )


class VerdictAgreement(_Part):
    """The judge's yes/no verdict against the human majority verdict."""

    accuracy: Stat = Field(description="Share of edits where the judge's verdict equals the human majority.")
    cohen_kappa: Stat = Field(description="Cohen's kappa of judge vs human majority (chance corrected).")
    judge_yes_rate: float | None = Field(default=None, description="Share of yes among the judge's verdicts.")
    human_yes_rate: float | None = Field(default=None, description="Share of yes among the human majorities.")
    n_human_ties: int = Field(default=0, description="Edits left out because the humans split evenly.")
    n_judge_ties: int = Field(
        default=0, description="Edits left out because the judge's repeats split evenly."
    )


class OrdinalAgreement(_Part):
    """Agreement on the 0-5 scale treated as ordered categories."""

    qwk_judge_vs_consensus: Stat = Field(
        description="Quadratic-weighted kappa of the judge's integer score vs the rounded mean human score."
    )
    alpha_humans_ordinal: Stat = Field(description="Krippendorff's alpha (ordinal) among the humans alone.")
    alpha_humans_interval: Stat = Field(description="Krippendorff's alpha (interval) among the humans alone.")
    alpha_with_judge_ordinal: Stat = Field(
        description="Ordinal alpha with the judge added as one more rater."
    )
    alpha_with_judge_interval: Stat = Field(
        description="Interval alpha with the judge added as one more rater."
    )


class FairComparison(_Part):
    """The judge against a single human, next to a human against the other humans."""

    loo_spearman_judge: Stat = Field(
        description="For each human r: Spearman of the judge vs the mean of the other humans on r's edits; "
        "Fisher-z average over humans."
    )
    loo_spearman_human: Stat = Field(
        description="For each human r: Spearman of r vs the mean of the other humans; Fisher-z average."
    )
    loo_spearman_diff: Stat = Field(description="Judge minus human of the two above (paired bootstrap).")
    qwk_judge_human: Stat = Field(
        description="Mean over humans of the quadratic kappa of judge vs that human."
    )
    qwk_human_human: Stat = Field(description="Mean over pairs of humans of their quadratic kappa.")
    qwk_diff: Stat = Field(description="Judge-human minus human-human kappa (paired bootstrap).")
    conclusion: str = Field(description="Plain-language reading of the two differences.")


class Bias(_Part):
    """Mean judge score minus mean human score on the same edits."""

    overall: Stat = Field(description="Mean over edits of (judge score - mean human score).")
    judge_mean: float | None = Field(default=None, description="Mean judge score over the same edits.")
    human_mean: float | None = Field(
        default=None, description="Mean of the mean human scores over the same edits."
    )
    per_model: dict[str, Stat] = Field(
        default_factory=dict, description="The same difference, per editing model."
    )


class SystemLevel(_Part):
    """The ranking of editing models by the judge against the ranking by the humans."""

    models: list[str] = Field(default_factory=list, description="Models compared, best first by the humans.")
    judge_means: dict[str, float] = Field(default_factory=dict, description="Model -> mean judge score.")
    human_means: dict[str, float] = Field(
        default_factory=dict, description="Model -> mean of mean human scores."
    )
    kendall_tau_b: Stat = Field(description="Kendall's tau-b between the two model rankings.")
    spearman: Stat = Field(description="Spearman's rho between the two model rankings.")
    p_chance_kendall: float | None = Field(
        default=None,
        description="Probability that a random order of the models agrees at least this well (tau).",
    )
    p_chance_spearman: float | None = Field(
        default=None, description="Probability that a random order agrees at least this well (rho)."
    )
    p_method: str | None = Field(default=None, description="How the chance probability was computed.")
    note: str | None = Field(default=None, description="Why the ranking was not compared, if it was not.")


class PerspectiveAgreement(_Part):
    """Every statistic of one judge on one perspective."""

    n_items: int = Field(description="Edits (sample, model) with a judge score and at least one human score.")
    n_human_items: int = Field(description="Edits with at least one human score.")
    n_human_ratings: int = Field(description="Human ratings on this perspective.")
    n_raters: int = Field(description="Distinct human raters on this perspective.")
    n_photos: int = Field(description="Source photos (bootstrap clusters) among the edits.")
    n_missing_judge: int = Field(description="Human-rated edits the judge has no valid score for.")
    n_unmatched_judge: int = Field(
        default=0,
        description="Of those, edits the judge has no row for at all (sample_id and model match nothing).",
    )
    sample: SampleLevel = Field(description="Sample-level correlations.")
    verdict: VerdictAgreement = Field(description="Yes/no agreement.")
    ordinal: OrdinalAgreement = Field(description="Kappa and Krippendorff's alpha.")
    fair: FairComparison = Field(description="Judge vs one human compared with human vs human.")
    bias: Bias = Field(description="Judge minus human score.")
    system: SystemLevel = Field(description="Model ranking agreement.")
    notes: list[str] = Field(default_factory=list, description="Edge cases met on this perspective.")


class JudgeAgreement(_Part):
    """All perspectives of one judge."""

    judge: str = Field(
        description="Judge name: provider/model (and rubric), or the rater name of --judge-ratings."
    )
    source: Literal["judgments", "judge-ratings"] = Field(description="Where its scores came from.")
    parse_mode: Literal["robust", "paper"] | None = Field(
        default=None,
        description="Reply parser of the judgments: robust (ours) or paper (the authors'); null for "
        "judge-ratings.",
    )
    rubric: str | None = Field(default=None, description="Rubric of the judgments; null for judge-ratings.")
    perspectives: dict[str, PerspectiveAgreement] = Field(description="perspective -> statistics.")
    notes: list[str] = Field(
        default_factory=list, description="About the judge's input (invalid rows, repeats)."
    )


class InputFile(_Part):
    """One input file and what it contributed."""

    path: str = Field(description="Path as given.")
    kind: Literal["human", "judgments", "judge-ratings"] = Field(description="What the file holds.")
    sha256: str = Field(description="sha256 of the file's bytes.")
    rows: int = Field(description="Rows used from the file.")


class AgreementReport(Row):
    """``agreement.json``: every judge against the human ratings."""

    WRITTEN_BY: ClassVar[str] = "realedit agree"

    created_at: str = Field(description="UTC time written.")
    realedit_version: str = Field(description="Version of realedit.")
    command: list[str] = Field(default_factory=list, description="The agree command line.")
    inputs: list[InputFile] = Field(description="Files read.")
    n_resamples: int = Field(description="Bootstrap resamples of source photos.")
    seed: int = Field(description="Seed of the bootstrap.")
    level: float = Field(description="Interval level, e.g. 0.95.")
    raters: list[str] = Field(description="Human raters, in natural order.")
    models: list[str] = Field(description="Editing models with human ratings, in natural order.")
    n_blank_rows: int = Field(default=0, description="Unrated (blank) rows skipped in the human ratings.")
    judges: list[JudgeAgreement] = Field(description="One entry per judge.")
    notes: list[str] = Field(default_factory=list, description="Report-wide notes.")
