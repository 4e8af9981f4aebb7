"""Records of ``realedit judge``: one row per judged (sample, perspective, repeat), and the summary.

``runs/<id>/judgments/<judge>__<rubric>.jsonl`` holds :class:`JudgmentRow` lines;
``runs/<id>/judgments/<judge>__<rubric>.summary.json`` holds :class:`JudgeSummary`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from realedit_bench.schema.base import Perspective, Row

JudgmentStatus = Literal["ok", "invalid", "refused", "error"]


class _JudgeRecord(Row):
    """A record that ``realedit judge`` writes."""

    WRITTEN_BY: ClassVar[str] = "realedit judge"


class Usage(_JudgeRecord):
    """Token usage and money of one or more API calls."""

    calls: int = Field(default=0, description="API calls made (retries and re-asks included).")
    input_tokens: int = Field(default=0, description="Prompt tokens, from the responses.")
    output_tokens: int = Field(default=0, description="Completion tokens, from the responses.")
    cost_usd: float = Field(default=0.0, description="Estimated money from the price table in force.")

    def add(self, other: Usage) -> None:
        """Add ``other``'s calls, tokens and money to this total (in place)."""
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd


class JudgmentRow(_JudgeRecord):
    """One judgment: a perspective of one edited sample, asked once (``repeat`` of ``--repeats K``)."""

    #: 2: ``edited_sha256`` is required (the stale rule compares it with ``edits.jsonl``). 3: ``endpoint``
    #: names who served the answer, beside the model id and fingerprint it reported (drift checks).
    SCHEMA_VERSION: ClassVar[int] = 3

    sample_id: str = Field(description="Sample id, e.g. '10-local'.")
    image_id: str = Field(description="Source photo id, for bootstrap resampling by photo.")
    category: str = Field(
        description="Edit type (Real-Edit: local ... style; other benchmarks: their own labels)."
    )
    model: str = Field(description="Editing model (adapter name or folder label) that made the image.")
    perspective: Perspective = Field(description="following, preserving or quality.")
    repeat: int = Field(default=0, description="0-based index of this ask among --repeats K.")
    status: JudgmentStatus = Field(
        description="ok: parsed; invalid: unparseable after one re-ask; refused: the judge declined; "
        "error: the call failed (network, quota)."
    )
    verdict: bool | None = Field(default=None, description="Yes/no verdict when status is ok.")
    score: float | None = Field(default=None, description="0-5 score when status is ok.")
    reason: str | None = Field(
        default=None, description="The judge's short reason, or why the row is not ok."
    )
    raw: str | None = Field(default=None, description="The judge's final reply text, verbatim.")
    paper_parse: dict[str, Any] | None = Field(
        default=None, description="What the authors' released parser would read: {verdict, score, ok}."
    )
    judge: str = Field(description="provider/model as asked, e.g. 'openai/gpt-4o-2024-08-06'.")
    model_snapshot: str | None = Field(default=None, description="Model id the provider reported back.")
    system_fingerprint: str | None = Field(default=None, description="Provider system fingerprint, if any.")
    endpoint: str | None = Field(
        default=None, description="Who served the answer: the endpoint kind and host, e.g. 'openai "
        "api.openai.com', 'azure res.openai.azure.com', 'openai-compatible 127.0.0.1:8000' (the 'same' model "
        "scores differently at different hosts); null for a row without a call.")
    rubric: str = Field(description="Rubric name and version, e.g. 'realedit-v1'.")
    params: dict[str, Any] = Field(default_factory=dict, description="Generation parameters sent.")
    image_sha256: list[str] = Field(
        default_factory=list, description="sha256 of each image as sent, in order."
    )
    edited_sha256: str | None = Field(
        description="sha256 of the edited image file judged, taken when the ask was planned (as edits.jsonl "
        "records it), so readers can tell a judgment of an image that has since been redone; null only for "
        "an error row whose file could not be read.",
    )
    cache_key: str | None = Field(default=None, description="Content-addressed cache key of the request.")
    cached: bool = Field(default=False, description="True when the answer came from the cache.")
    attempts: int = Field(default=1, description="Calls made for this row (retries and re-asks).")
    usage: Usage = Field(default_factory=Usage, description="Tokens and money of every attempt.")
    finished_at: str = Field(description="UTC time the row was written.")


class PerspectiveSummary(_JudgeRecord):
    """Aggregate of one perspective over a set of samples. Means use ok rows only."""

    n: int = Field(description="Samples selected (every status, not-run ones included).")
    n_valid: int = Field(description="Samples with an ok judgment.")
    n_invalid: int = Field(default=0, description="Samples whose reply could not be parsed.")
    n_refused: int = Field(default=0, description="Samples the judge refused.")
    n_error: int = Field(
        default=0, description="Samples whose call failed (or whose image could not be read)."
    )
    n_not_run: int = Field(
        default=0, description="Selected samples with no current judgment (never sent: fatal stop, budget)."
    )
    accuracy: float | None = Field(default=None, description="Share of yes verdicts among valid (0-1).")
    accuracy_ci: tuple[float, float] | None = Field(default=None, description="95% bootstrap interval.")
    score_mean: float | None = Field(default=None, description="Mean 0-5 score among valid.")
    score_ci: tuple[float, float] | None = Field(default=None, description="95% bootstrap interval.")
    score_median: float | None = Field(default=None, description="Median score among valid.")
    score_histogram: dict[str, int] = Field(
        default_factory=dict, description="Count of valid scores rounded to each integer 0..5."
    )


class JudgeSummary(_JudgeRecord):
    """``summary.json`` beside a judgments file."""

    run_id: str = Field(description="Run directory name (or folder name for a plain folder).")
    model: str = Field(description="Editing model judged.")
    judge: str = Field(description="provider/model as asked.")
    judge_snapshot: str | None = Field(default=None, description="Model id the provider reported.")
    rubric: str = Field(description="Rubric name and version.")
    parse_mode: Literal["robust", "paper"] = Field(default="robust", description="Reply parser used.")
    protocol: Literal["realedit", "paper"] = Field(
        default="realedit", description="realedit: our rubric and request; paper: the authors' prompts, "
        "parser, request and images (realedit judge --protocol paper). It decides the headline figures.")
    temperature: float | None = Field(
        default=0.0,
        description="Sampling temperature sent; None: none was sent (the API's default applied).")
    sent: dict[str, Any] = Field(
        default_factory=dict, description="What each request sent: model, max_tokens (and the parameter's "
        "name), temperature and seed (null: not sent), timeout, and how the images were prepared.")
    overrides: list[str] = Field(
        default_factory=list, description="Settings given that differ from the protocol's, as "
        "'name=value (protocol: default)'.")
    samples_k: int = Field(default=1, description="Asks per item (--repeats).")
    created_at: str = Field(description="UTC time the summary was written.")
    command: list[str] = Field(default_factory=list, description="The judge command line.")
    realedit_version: str = Field(description="Version of realedit.")
    n_samples: int = Field(description="Edited samples selected for judging (judged or not).")
    perspectives: dict[str, PerspectiveSummary] = Field(description="Per perspective, over all samples.")
    per_category: dict[str, dict[str, PerspectiveSummary]] = Field(
        default_factory=dict, description="category -> perspective -> summary."
    )
    paper_parser_dropped: int = Field(
        default=0, description="Samples the authors' parser would have skipped (any of 3 replies failing). "
        "Meaningful only when paper_parser_applies: other rubrics ask for answers it never reads."
    )
    paper_parser_applies: bool | None = Field(
        default=None, description="True when the rubric asks for the authors' answer format (their keys and "
        "'score'), so paper_parser_dropped says something; None in summaries written before this field."
    )
    usage: Usage = Field(
        default_factory=Usage, description="Tokens and money of the current judgments (latest rows)."
    )
    usage_spent: Usage | None = Field(
        default=None, description="Tokens and money of every row in the judgments file: all calls paid for, "
        "redone, superseded and stale rows included. None in summaries written before this field."
    )
    paper_figures: dict[str, dict[str, float | int | None]] = Field(
        default_factory=dict,
        description="perspective -> {n, accuracy, score_mean} exactly as the authors' script computes them "
        "(first ask of each item; its yes/no list also keeps items whose score later failed to parse).",
    )
    paper_intervals: dict[str, dict[str, tuple[float, float] | None]] = Field(
        default_factory=dict,
        description="perspective -> {accuracy, score_mean} -> 95% interval of paper_figures (cluster "
        "bootstrap over source photos); null from fewer than two photos.",
    )
    variance: dict[str, dict[str, float | int | None]] = Field(
        default_factory=dict,
        description="perspective -> spread of the score over the --repeats K asks of each item "
        "(items, spread_mean, spread_median, spread_max, std_mean, verdict_disagreement); empty when K = 1.",
    )
    runs_stopped: str | None = Field(
        default=None, description="Why the last judging stopped early, if it did."
    )


class ItemStat(_JudgeRecord):
    """Per item and perspective: the --repeats K asks summarised (``<judge>__<rubric>.items.jsonl``)."""

    sample_id: str = Field(description="Sample id.")
    perspective: Perspective = Field(description="following, preserving or quality.")
    n: int = Field(description="Asks recorded.")
    n_ok: int = Field(description="Asks with an ok judgment.")
    score_mean: float | None = Field(default=None, description="Mean score of the ok asks.")
    score_median: float | None = Field(default=None, description="Median score of the ok asks.")
    score_spread: float | None = Field(default=None, description="Max minus min score of the ok asks.")
    score_std: float | None = Field(
        default=None, description="Population standard deviation of the ok scores."
    )
    yes_share: float | None = Field(default=None, description="Share of yes verdicts among the ok asks.")
