"""Records of how far a judge can be trusted: panels, canaries, drift checks and calibrations.

* ``<judged>/judgments/panel__<name>.panel.json``: :class:`PanelSummary` (``realedit judge`` with several
  judges): each judge's figures, the panel's, and the agreement between the judges;
* ``<judged>/judgments/canaries/<judge>__<rubric>.canaries.json``: :class:`CanaryReport` (``--canaries``);
* ``<judged>/judgments/<judge>__<rubric>.anchors.json``: :class:`AnchorSet`, the replies a drift check
  compares with, and ``<judge>__<rubric>.drift.json``: :class:`DriftReport` (``--drift-check``);
* ``calibration.json``: :class:`CalibrationFile` (``realedit agree --fit-calibration``).

Statistics are :class:`~realedit_bench.schema.agree.Stat` values: a point estimate with a 95% bootstrap
interval over source photos, or ``null`` with the reason in ``note``.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from realedit_bench.schema.agree import Stat, _Part
from realedit_bench.schema.base import Perspective, Row
from realedit_bench.schema.judge import PerspectiveSummary


class _JudgeRecord(Row):
    """A record that ``realedit judge`` writes."""

    WRITTEN_BY: ClassVar[str] = "realedit judge"


# ----------------------------------------------------------------------------------------------- panels


class PanelJudge(_Part):
    """One judge of a panel and its own figures (from its summary)."""

    judge: str = Field(description="provider/model as asked (URL credentials removed).")
    rubric: str = Field(description="Rubric id.")
    stem: str = Field(description="Its judgments files: judgments/<stem>.jsonl and .summary.json.")
    score_range: tuple[float, float] = Field(description="Its rubric's score range, e.g. (0, 5).")
    perspectives: dict[str, PerspectiveSummary] = Field(description="Its own figures per perspective.")


class LeftOut(_Part):
    """Why one judge gave the panel no answer for some edits (counted, never guessed)."""

    invalid: int = Field(default=0, description="Unparseable after the re-ask.")
    refused: int = Field(default=0, description="The judge declined.")
    error: int = Field(default=0, description="The call failed.")
    not_run: int = Field(default=0, description="Never asked (the run stopped early) or stale.")
    split: int = Field(default=0, description="Its own --repeats split evenly on the verdict (score kept).")


class JudgePair(_Part):
    """Agreement of two judges of the panel on the edits both answered."""

    a: str = Field(description="First judge.")
    b: str = Field(description="Second judge.")
    verdict_agreement: Stat = Field(description="Share of edits with the same verdict.")
    cohen_kappa: Stat = Field(description="Cohen's kappa of the two verdicts (chance corrected).")
    score_spearman: Stat = Field(description="Spearman's rho of the two scores (each on its own scale).")


class PanelAgreement(_Part):
    """How far the judges agree with each other (photo-level bootstrap intervals)."""

    verdict_alpha: Stat = Field(description="Krippendorff's alpha on the verdicts (nominal: yes/no).")
    score_alpha: Stat = Field(
        description="Krippendorff's alpha (interval) on the scores, each mapped to 0-5."
    )
    pairs: list[JudgePair] = Field(default_factory=list, description="Every pair of judges.")


class PanelPerspective(_Part):
    """The panel's figures for one perspective."""

    n: int = Field(description="Edits selected.")
    n_scored: int = Field(description="Edits at least one judge answered validly (they have a panel score).")
    n_no_answer: int = Field(description="Edits no judge answered validly: no panel score, no verdict.")
    n_majority: int = Field(description="Edits with a majority verdict among the judges that answered.")
    n_tied: int = Field(
        description="Edits whose answering judges split evenly: no panel verdict (never a coin flip)."
    )
    accuracy: Stat = Field(description="Share of yes among the majority verdicts.")
    score_mean: Stat = Field(
        description="Mean panel score on 0-5: per edit, the mean of the answering judges' "
        "scores, each mapped linearly from its rubric's range to 0-5."
    )
    left_out: dict[str, LeftOut] = Field(
        default_factory=dict, description="Per judge: edits it did not answer."
    )
    agreement: PanelAgreement = Field(description="Agreement between the judges.")


class PanelSummary(_JudgeRecord):
    """``panel__<name>.panel.json``: several judges of one set of edits, and the panel they form."""

    name: str = Field(description="Panel name (the --panel file's, or 'panel').")
    run_id: str = Field(description="Run directory (or folder) judged.")
    model: str = Field(description="Editing model judged.")
    created_at: str = Field(description="UTC time written.")
    judges: list[PanelJudge] = Field(description="The judges, in the order given.")
    perspectives: dict[str, PanelPerspective] = Field(description="Per perspective.")
    rule: str = Field(description="How the panel's verdict and score are formed, in words.")
    n_resamples: int = Field(default=2000, description="Bootstrap resamples of source photos.")


# --------------------------------------------------------------------------------------------- canaries


class CanaryCheck(_Part):
    """One kind of probe under one perspective: what the right answer is and how often the judge gave it."""

    kind: str = Field(description="unchanged, blank, noise, injection or swapped.")
    perspective: Perspective = Field(description="The perspective asked.")
    expected: str = Field(description="The right answer, in words.")
    n: int = Field(description="Probes asked.")
    n_pass: int = Field(description="Probes answered right.")
    n_fail: int = Field(description="Probes answered wrong.")
    n_left_out: int = Field(
        description="Probes without a usable answer (invalid, refused, error), or an "
        "injection whose clean edit the judge did not call 'no': not counted either way."
    )
    pass_rate: Stat = Field(description="n_pass / (n_pass + n_fail), interval over source photos.")
    failed: list[str] = Field(default_factory=list, description="Sample ids of the first failures.")


class CanaryReport(_JudgeRecord):
    """``<judge>__<rubric>.canaries.json``: probes with known answers, judged apart from every score."""

    judge: str = Field(description="provider/model.")
    rubric: str = Field(description="Rubric id.")
    run_id: str = Field(description="Run whose photos and edits the probes were made from.")
    model: str = Field(description="Editing model of that run.")
    created_at: str = Field(description="UTC time written.")
    checks: list[CanaryCheck] = Field(description="Per kind and perspective.")
    n: int = Field(description="Probes counted (passed or failed).")
    n_pass: int = Field(description="Probes passed.")
    n_left_out: int = Field(description="Probes without a usable answer.")
    pass_rate: Stat = Field(description="Over every counted probe, interval over source photos.")
    threshold: float = Field(description="A judge passing fewer than this share is flagged.")
    flagged: bool = Field(description="True when pass_rate is below threshold.")
    probes_dir: str = Field(description="Folder of the probe images (apart from the run's images).")


# ------------------------------------------------------------------------------------------------- drift


class AnchorReply(_Part):
    """One recorded answer of the anchor set."""

    sample_id: str = Field(description="Sample id.")
    image_id: str = Field(description="Source photo id.")
    category: str = Field(description="Edit type.")
    perspective: Perspective = Field(description="Perspective.")
    verdict: bool = Field(description="The verdict recorded.")
    score: float = Field(description="The score recorded.")
    model_snapshot: str | None = Field(default=None, description="Model id the provider reported then.")
    system_fingerprint: str | None = Field(
        default=None, description="Fingerprint the provider reported then."
    )
    endpoint: str | None = Field(default=None, description="Who served it then.")
    edited_sha256: str | None = Field(
        default=None,
        description="The edited file it judged (a redone image "
        "is no longer the same anchor: left out of later checks).",
    )
    finished_at: str = Field(description="When it was recorded.")


class AnchorSet(_JudgeRecord):
    """``<judge>__<rubric>.anchors.json``: the fixed items a drift check asks again, and their first
    replies."""

    judge: str = Field(description="provider/model.")
    rubric: str = Field(description="Rubric id.")
    run_id: str = Field(description="Run the anchors come from.")
    created_at: str = Field(description="When the anchor set was fixed.")
    rule: str = Field(description="How the anchors were chosen, in words.")
    anchors: list[AnchorReply] = Field(description="The anchors and the replies recorded for them.")


class DriftCheck(_Part):
    """One re-judging of the anchors, compared with the recorded replies."""

    checked_at: str = Field(description="UTC time of the check.")
    n: int = Field(description="Anchors asked again.")
    n_compared: int = Field(description="Anchors answered validly again.")
    n_left_out: int = Field(
        description="Anchors without a valid answer now (invalid, refused, error), or "
        "whose image was redone since."
    )
    verdict_agreement: Stat = Field(description="Share of anchors whose verdict is unchanged.")
    score_diff: Stat = Field(description="Mean of (score now - score recorded).")
    snapshots_then: list[str] = Field(default_factory=list, description="Model ids reported then.")
    snapshots_now: list[str] = Field(default_factory=list, description="Model ids reported now.")
    fingerprints_then: list[str] = Field(default_factory=list, description="Fingerprints then.")
    fingerprints_now: list[str] = Field(default_factory=list, description="Fingerprints now.")
    endpoints_now: list[str] = Field(default_factory=list, description="Who served the answers now.")
    drifted: bool = Field(description="True when the judge no longer answers as it did (see why).")
    why: str = Field(description="The rule applied and what it found, in words.")


class DriftReport(_JudgeRecord):
    """``<judge>__<rubric>.drift.json``: the latest drift check of a judge on a run, and the earlier ones."""

    judge: str = Field(description="provider/model.")
    rubric: str = Field(description="Rubric id.")
    run_id: str = Field(description="Run the anchors come from.")
    model: str = Field(description="Editing model of that run.")
    latest: DriftCheck = Field(description="The latest check.")
    history: list[DriftCheck] = Field(default_factory=list, description="Earlier checks, oldest first.")


# ------------------------------------------------------------------------------------------- calibration


class CalibrationMap(_Part):
    """A monotone map from a judge's scores to the human scale, for one perspective."""

    x: list[float] = Field(description="Judge scores of the knots, increasing.")
    y: list[float] = Field(
        description="Calibrated (human-scale) value at each knot, non-decreasing; between "
        "knots linear, outside them the end value."
    )
    n: int = Field(description="Edits with both a judge score and a human rating.")
    n_photos: int = Field(description="Source photos behind them.")
    folds: int = Field(description="Cross-validation folds (by photo).")
    mae_raw: Stat = Field(description="Mean |judge score - mean human score| on the raw scale.")
    mae_calibrated: Stat = Field(
        description="Cross-validated mean |calibrated score - mean human score|: each "
        "edit mapped by a fit that never saw its photo."
    )
    improvement: Stat = Field(description="mae_raw - mae_calibrated, paired over the same photos.")


class JudgeCalibration(_Part):
    """One judge's calibration, per perspective."""

    judge: str = Field(description="provider/model as the judgments name it.")
    rubric: str | None = Field(default=None, description="Rubric id of the judgments fitted.")
    perspectives: dict[str, CalibrationMap] = Field(description="Per perspective.")
    notes: list[str] = Field(default_factory=list, description="Perspectives left out and why.")


class CalibrationFile(Row):
    """``calibration.json`` of ``realedit agree --fit-calibration``, read by ``realedit report
    --calibration``."""

    WRITTEN_BY: ClassVar[str] = "realedit agree --fit-calibration"

    created_at: str = Field(description="UTC time written.")
    realedit_version: str = Field(description="Version of realedit.")
    method: str = Field(description="How the maps were fitted, in words.")
    human_scale: tuple[float, float] = Field(description="Range of the human scores fitted to.")
    judges: list[JudgeCalibration] = Field(description="One per judge.")
