"""Judge panels: several judges over the same edits, each on its own, and the panel they form.

``realedit judge --judge A --judge B --judge C`` (or ``--panel panel.toml``) judges the edits with each
judge in turn, exactly as ``realedit judge --judge A`` would (its own rows, summary, cache entries and
resume: a judge already done is not asked again), then writes ``judgments/panel__<name>.panel.json``:

* each judge's own figures (its summary);
* the panel's, per perspective and edit: the **score** is the mean of the scores of the judges that
  answered validly, each mapped linearly from its rubric's range to 0-5 (a 0-25 judge's 20 counts as 4);
  the **verdict** is the majority of their verdicts. A judge whose answer is invalid, refused, failed or
  missing is left out of that edit and counted (``left_out``), never guessed; a judge whose own
  ``--repeats`` split evenly gives its score but no verdict (counted as ``split``). When the verdicts that
  remain split evenly (one yes, one no) the edit has **no panel verdict**: it is counted as ``tied`` and
  left out of the accuracy, never decided by a coin or by one judge's rank;
* how far the judges agree: Krippendorff's alpha on the verdicts (nominal) and on the scores (interval, on
  0-5), and for every pair of judges the share of equal verdicts, Cohen's kappa and Spearman's rho of the
  scores, each with a 95% bootstrap interval over source photos (the statistics of ``realedit agree``).

How the judges rank the models (Kendall's tau between their model means) needs several runs: the site
computes it for each table judged by a panel (:func:`model_rank_agreement`).

A panel file::

    name = "three-judges"                       # optional: names the panel summary
    [[judge]]
    name = "openai/gpt-4o-2024-08-06"
    [[judge]]
    name = "openai-api/http://localhost:8000/v1/editscore"
    rubric = "editscore-v1"                     # optional: a built-in id or a file (relative to this one)
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from realedit_bench.agreement import statistics as ag
from realedit_bench.agreement.compute import resampled_stat
from realedit_bench.errors import ConfigError
from realedit_bench.images import sha256_file
from realedit_bench.jsonio import atomic_write_json, read_rows
from realedit_bench.judges.canaries import DEFAULT_THRESHOLD, CanaryRun, run_canaries
from realedit_bench.judges.drift import DriftRun, run_drift_check
from realedit_bench.judges.session import JudgeContext, JudgeOutcome, judge_edits
from realedit_bench.judges.summary import latest_rows
from realedit_bench.outcome import EXIT_INTERRUPTED, Outcome
from realedit_bench.provenance import utc_now
from realedit_bench.schema.agree import Stat
from realedit_bench.schema.base import PERSPECTIVES
from realedit_bench.schema.judge import JudgmentRow
from realedit_bench.schema.trust import (
    JudgePair,
    LeftOut,
    PanelAgreement,
    PanelJudge,
    PanelPerspective,
    PanelSummary,
)
from realedit_bench.userfiles import read_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RULE = (
    "per edit: score = mean of the valid judges' scores mapped to 0-5; verdict = majority of their "
    "verdicts; invalid, refused, failed or missing answers left out and counted; an even split of the "
    "verdicts gives no panel verdict (counted as tied)"
)
#: Keys a panel file may hold.
_PANEL_KEYS = {"format", "name", "judge"}
_JUDGE_KEYS = {"name", "rubric"}


class PanelSpec(NamedTuple):
    """One judge of a panel: its name and rubric (a built-in id or a file)."""

    judge: str
    rubric: str | Path


def load_panel(path: Path | str, default_rubric: str | Path) -> tuple[str, list[PanelSpec]]:
    """Read a panel file (module docstring): its name and judges. Raises ConfigError when malformed."""
    path = Path(path)
    text = read_text(path, what="--panel", max_bytes=1 << 20, error=ConfigError)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--panel {path} is not valid TOML: {exc}") from exc
    unknown = set(data) - _PANEL_KEYS
    if unknown:
        raise ConfigError(f"--panel {path}: unknown key(s) {', '.join(sorted(unknown))} (known: name, judge)")
    judges = data.get("judge")
    if not isinstance(judges, list) or not judges:
        raise ConfigError(f'--panel {path}: name the judges as [[judge]] tables with name = "provider/model"')
    specs = []
    for i, j in enumerate(judges, 1):
        if not isinstance(j, dict) or not isinstance(j.get("name"), str) or set(j) - _JUDGE_KEYS:
            raise ConfigError(
                f'--panel {path}: judge {i} must hold name = "provider/model" and optionally '
                'rubric = "<id or file>", nothing else'
            )
        rubric = j.get("rubric", default_rubric)
        if isinstance(rubric, str) and rubric.endswith(".toml"):
            rubric = path.parent / rubric
        specs.append(PanelSpec(j["name"], rubric))
    return str(data.get("name") or "panel"), specs


def panel_specs(
    judges: Sequence[str], panel: Path | str | None, rubric: str | Path
) -> tuple[str, list[PanelSpec]]:
    """The judges asked for: ``--panel`` file, else the ``--judge`` names (each once, in order)."""
    if panel is not None:
        if judges:
            raise ConfigError("--panel names the judges: give it without --judge")
        return load_panel(panel, rubric)
    names = list(dict.fromkeys(judges))
    if not names:
        raise ConfigError("name the judges: --judge provider/model (repeat it), or --panel panel.toml")
    return "panel", [PanelSpec(n, rubric) for n in names]


# ------------------------------------------------------------------------------------------- statistics


class _Answer(NamedTuple):
    """One judge's answer for one edit and perspective: score on 0-5 and verdict, or why there is none."""

    score: float | None
    verdict: bool | None
    status: str


class JudgeRows(NamedTuple):
    """One judge's current rows for the panel, and its rubric's score range."""

    meta: PanelJudge
    rows: list[JudgmentRow]


def _answers(j: JudgeRows, perspective: str) -> dict[str, _Answer]:
    """sample id -> the judge's answer (ok repeats averaged, the majority of their verdicts)."""
    lo, hi = j.meta.score_range
    by: dict[str, list[JudgmentRow]] = {}
    for r in j.rows:
        if r.perspective == perspective:
            by.setdefault(r.sample_id, []).append(r)
    out = {}
    for sid, asks in by.items():
        ok = [r for r in asks if r.status == "ok" and r.score is not None and r.verdict is not None]
        if not ok:
            out[sid] = _Answer(None, None, asks[-1].status)
            continue
        score = float(np.mean([float(r.score or 0.0) for r in ok]))
        yes = sum(1 for r in ok if r.verdict)
        verdict = None if 2 * yes == len(ok) else 2 * yes > len(ok)
        out[sid] = _Answer((score - lo) / (hi - lo) * 5 if hi > lo else score, verdict, "ok")
    return out


class _Matrix(NamedTuple):
    score: np.ndarray  # edits x judges, 0-5, NaN = no valid answer
    verdict: np.ndarray  # edits x judges, 1/0, NaN = none
    left_out: dict[str, LeftOut]


def _matrix(judges: Sequence[JudgeRows], samples: Sequence[str], perspective: str) -> _Matrix:
    score = np.full((len(samples), len(judges)), np.nan)
    verdict = np.full_like(score, np.nan)
    left: dict[str, LeftOut] = {}
    for k, j in enumerate(judges):
        answers = _answers(j, perspective)
        counts = {"invalid": 0, "refused": 0, "error": 0, "not_run": 0, "split": 0}
        for i, sid in enumerate(samples):
            a = answers.get(sid)
            if a is None or a.score is None:
                counts[a.status if a is not None else "not_run"] += 1
                continue
            score[i, k] = a.score
            if a.verdict is None:
                counts["split"] += 1
            else:
                verdict[i, k] = float(a.verdict)
        left[j.meta.judge] = LeftOut(**counts)
    return _Matrix(score, verdict, left)


def _mean_stat(values: np.ndarray, mask: np.ndarray, clusters: np.ndarray, counts: np.ndarray) -> Stat:
    if not mask.any():
        return Stat(value=None, n=0, note="no edit to average")
    return resampled_stat(
        ag.weighted_mean(values[mask], clusters[mask], counts), int(mask.sum()), clusters=clusters[mask]
    )


def _pair(
    m: _Matrix, a: int, b: int, names: Sequence[str], clusters: np.ndarray, counts: np.ndarray
) -> JudgePair:
    both = ~np.isnan(m.verdict[:, a]) & ~np.isnan(m.verdict[:, b])
    if both.any():
        k = ag.cohen_kappa(m.verdict[both, a], m.verdict[both, b], (0.0, 1.0), clusters[both], counts)
        n = int(both.sum())
        kappa = resampled_stat(
            k.kappa, n, clusters=clusters[both], why="undefined: a judge gave one verdict only"
        )
        agree = resampled_stat(k.accuracy, n, clusters=clusters[both])
    else:
        kappa = agree = Stat(value=None, n=0, note="no edit both judges gave a verdict for")
    scored = ~np.isnan(m.score[:, a]) & ~np.isnan(m.score[:, b])
    rho = (
        resampled_stat(
            ag.spearman(m.score[scored, a], m.score[scored, b], clusters[scored], counts),
            int(scored.sum()),
            clusters=clusters[scored],
            why="undefined: constant scores",
        )
        if scored.sum() >= 2
        else Stat(value=None, n=int(scored.sum()), note="fewer than two edits scored by both")
    )
    return JudgePair(a=names[a], b=names[b], verdict_agreement=agree, cohen_kappa=kappa, score_spearman=rho)


def _alpha(data: np.ndarray, clusters: np.ndarray, counts: np.ndarray, what: str) -> Stat:
    pairable = int(((~np.isnan(data)).sum(axis=1) >= 2).sum())
    if pairable == 0:
        return Stat(value=None, n=0, note=f"no edit has {what} from two judges")
    return resampled_stat(
        ag.krippendorff_alpha(data, clusters, counts, "interval"),
        pairable,
        clusters=clusters,
        why=f"undefined: the {what} do not vary",
    )


def panel_perspective(
    judges: Sequence[JudgeRows],
    samples: Sequence[tuple[str, str]],
    perspective: str,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> PanelPerspective:
    """The panel's figures and the judges' agreement for one perspective (module docstring).

    Args:
        judges: Each judge's current rows.
        samples: (sample id, source photo id) of every edit selected.
        perspective: The perspective.
        n_resamples: Bootstrap resamples of source photos.
        seed: Bootstrap seed.
    """
    photos = sorted({p for _, p in samples})
    clusters = np.array([photos.index(p) for _, p in samples], int)
    counts = ag.resample_counts(len(photos), n_resamples, seed)
    m = _matrix(judges, [s for s, _ in samples], perspective)
    answered = ~np.isnan(m.score)
    scored = answered.any(axis=1)
    with np.errstate(invalid="ignore"):
        panel_score = np.where(
            scored, np.nansum(m.score, axis=1) / np.maximum(answered.sum(axis=1), 1), np.nan
        )
    yes = np.nansum(m.verdict == 1.0, axis=1)
    no = np.nansum(m.verdict == 0.0, axis=1)
    tied = (yes + no > 0) & (yes == no)
    majority = (yes + no > 0) & ~tied
    names = [j.meta.judge for j in judges]
    agreement = PanelAgreement(
        verdict_alpha=_alpha(m.verdict, clusters, counts, "verdicts"),
        score_alpha=_alpha(m.score, clusters, counts, "scores"),
        pairs=[
            _pair(m, a, b, names, clusters, counts) for a, b in itertools.combinations(range(len(judges)), 2)
        ],
    )
    return PanelPerspective(
        n=len(samples),
        n_scored=int(scored.sum()),
        n_no_answer=int((~scored).sum()),
        n_majority=int(majority.sum()),
        n_tied=int(tied.sum()),
        accuracy=_mean_stat((yes > no).astype(float), majority, clusters, counts),
        score_mean=_mean_stat(np.nan_to_num(panel_score), scored, clusters, counts),
        left_out=m.left_out,
        agreement=agreement,
    )


class RankPair(NamedTuple):
    """How two judges rank the same models on one perspective."""

    a: str
    b: str
    perspective: str
    models: list[str]
    kendall: Stat
    spearman: Stat


def model_rank_agreement(
    scores: dict[str, dict[str, list[tuple[str, float]]]],
    perspective: str,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> list[RankPair]:
    """Kendall's tau and Spearman's rho between each pair of judges' model means, with intervals.

    Args:
        scores: judge -> model -> (source photo, score) of each edit the judge scored validly.
        perspective: Named in the results.
        n_resamples: Bootstrap resamples of source photos (one draw for every model and judge: paired).
        seed: Bootstrap seed.
    """
    photos = sorted({p for per in scores.values() for vals in per.values() for p, _ in vals})
    index = {p: i for i, p in enumerate(photos)}
    counts = ag.resample_counts(len(photos), n_resamples, seed)

    def means(vals: list[tuple[str, float]]) -> np.ndarray:
        cl = np.array([index[p] for p, _ in vals], int)
        return ag.weighted_mean(np.array([s for _, s in vals]), cl, counts)

    out = []
    for a, b in itertools.combinations(sorted(scores), 2):
        models = sorted(set(scores[a]) & set(scores[b]))
        if len(models) < 2:
            none = Stat(value=None, n=len(models), note="fewer than two models judged by both")
            out.append(RankPair(a, b, perspective, models, none, none))
            continue
        ma = np.stack([means(scores[a][m]) for m in models], axis=1)
        mb = np.stack([means(scores[b][m]) for m in models], axis=1)
        tau, rho = ag.rank_correlations(ma, mb)
        why = "undefined: a judge gives every model the same mean"
        out.append(
            RankPair(
                a,
                b,
                perspective,
                models,
                resampled_stat(tau, len(models), why=why),
                resampled_stat(rho, len(models), why=why),
            )
        )
    return out


# ------------------------------------------------------------------------------------------------- runs


@dataclass(kw_only=True)
class PanelOutcome(Outcome):
    """What :func:`judge_panel` did: each judge's outcome, its canaries and drift check, and the panel."""

    judges: list[JudgeOutcome] = field(default_factory=list)
    canaries: dict[str, CanaryRun] = field(default_factory=dict)
    drift: dict[str, DriftRun] = field(default_factory=dict)
    summary: PanelSummary | None = None
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Each judge's result lines, its canaries and drift check, then the panel's file."""
        lines: list[str] = []
        for out in self.judges:
            lines.append(f"judge {out.judge} ({out.rubric}):")
            lines += [f"  {line}" for line in out.describe().splitlines() if line]
            if out.judge in self.canaries:
                c = self.canaries[out.judge]
                lines.append(
                    f"  canaries: {c.report.n_pass} of {c.report.n} passed ({_pct_ci(c.report.pass_rate)}), "
                    f"{c.report.n_left_out} left out{'; FLAGGED' if c.report.flagged else ''}: {c.path}"
                )
            if out.judge in self.drift:
                d = self.drift[out.judge]
                verdict = "DRIFTED" if d.report.latest.drifted else "no drift"
                lines.append(f"  drift check: {verdict}: {d.report.latest.why}: {d.path}")
        if self.path is not None:
            lines.append(f"panel: {self.path}")
        return "\n".join(lines)


def _pct_ci(s: Stat) -> str:
    if s.value is None:
        return "n/a"
    ci = f" [{s.low:.0%}, {s.high:.0%}]" if s.low is not None and s.high is not None else ""
    return f"{s.value:.0%}{ci}"


def _once(log: Callable[[str], None]) -> Callable[[str], None]:
    """``log`` that says each line once: every judge selects the same edits and would repeat their notes."""
    seen: set[str] = set()

    def say(line: str) -> None:
        if line not in seen:
            seen.add(line)
            log(line)

    return say


class _Collected(NamedTuple):
    ctx: JudgeContext
    outcome: JudgeOutcome


def judge_panel(
    *,
    judges: Sequence[str] = (),
    panel: Path | str | None = None,
    canaries: bool = False,
    drift_check: bool = False,
    canary_threshold: float = DEFAULT_THRESHOLD,
    **options: Any,
) -> PanelOutcome:
    """Judge the edits with each judge (module docstring), with canaries and drift checks when asked.

    Args:
        judges: ``provider/model`` names (each judged on its own, in order).
        panel: A panel file instead of ``judges``.
        canaries: Judge probe items with known answers after the edits (see
            :mod:`realedit_bench.judges.canaries`).
        drift_check: Ask the anchors again and compare (:mod:`realedit_bench.judges.drift`).
        canary_threshold: A judge passing fewer canaries than this share is flagged.
        **options: Every other keyword of :func:`~realedit_bench.judges.session.judge_edits` (``images``,
            ``rubric``, ``concurrency``, ...), used for every judge.

    Returns:
        The outcome: each judge's, its checks, the panel summary (with two judges or more).

    Raises:
        RealEditError: a judge name, key, rubric or setting is wrong; every judge is checked before any call.
    """
    name, specs = panel_specs(judges, panel, options.pop("rubric", "realedit-v1"))
    quiet = {k: v for k, v in options.items() if k not in ("on_progress", "log", "images", "check")}
    # Every judge's name, key, rubric and prices, before anything is sent.
    checked = [judge_edits(judge=s.judge, rubric=s.rubric, check=True, **quiet) for s in specs]
    if options.get("check"):
        return PanelOutcome(judges=checked)
    result = PanelOutcome()
    collected: list[_Collected] = []
    log = _once(options.pop("log", print))

    def after(ctx: JudgeContext, out: JudgeOutcome) -> None:
        collected.append(_Collected(ctx, out))
        if out.stopped:
            return  # stopped early (key, budget, Ctrl-C): no further asks for this judge
        if canaries:
            result.canaries[ctx.options.judge] = run_canaries(ctx, threshold=canary_threshold)
        if drift_check:
            result.drift[ctx.options.judge] = run_drift_check(ctx)

    for spec in specs:
        out = judge_edits(judge=spec.judge, rubric=spec.rubric, after=after, log=log, **options)
        result.judges.append(out)
        if out.exit_code == EXIT_INTERRUPTED:
            break
    result.warnings = [w for out in result.judges for w in out.warnings]
    result.warnings += [
        w for run in [*result.canaries.values(), *result.drift.values()] for w in run.warnings
    ]
    result.exit_code = max((o.exit_code for o in result.judges), default=0)
    if len(specs) > 1 and len(collected) == len(specs):
        result.summary, result.path = write_panel(name, collected)
    return result


def write_panel(name: str, collected: Sequence[_Collected]) -> tuple[PanelSummary, Path]:
    """Compute and write the panel summary of judges that judged the same edits."""
    from realedit_bench.judges.runner import safe_name

    first = collected[0].ctx
    edits = first.edits
    current = {it.sample.sample_id: sha256_file(it.edited) for it in edits.items}
    samples = [(it.sample.sample_id, it.sample.image_id) for it in edits.items]
    judges = [_judge_rows(c, current) for c in collected]
    perspectives = {
        p: panel_perspective(judges, samples, p) for p in PERSPECTIVES if p in first.options.perspectives
    }
    summary = PanelSummary(
        name=name,
        run_id=edits.run_id,
        model=edits.model,
        created_at=utc_now(),
        judges=[j.meta for j in judges],
        perspectives=perspectives,
        rule=RULE,
    )
    assert collected[0].outcome.paths is not None  # a judged (not dry) run has its files
    path = collected[0].outcome.paths.dir / f"panel__{safe_name(name)}.panel.json"
    atomic_write_json(path, summary)
    return summary, path


def _judge_rows(c: _Collected, current: dict[str, str]) -> JudgeRows:
    """One judge's rows of the current images (a stale row is not an answer about the edit judged now)."""
    paths = c.outcome.paths
    assert paths is not None
    latest = latest_rows(read_rows(paths.rows, JudgmentRow)) if paths.rows.is_file() else {}
    rows = [
        r
        for r in latest.values()
        if r.sample_id in current and (r.status == "error" or r.edited_sha256 == current[r.sample_id])
    ]
    summary = c.outcome.summary
    meta = PanelJudge(
        judge=c.ctx.options.judge,
        rubric=c.ctx.rubric.id,
        stem=paths.rows.name.removesuffix(".jsonl"),
        score_range=(c.ctx.rubric.score_min, c.ctx.rubric.score_max),
        perspectives=dict(summary.perspectives) if summary is not None else {},
    )
    return JudgeRows(meta, rows)
