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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from realedit_bench.errors import ConfigError
from realedit_bench.images import sha256_file
from realedit_bench.jsonio import atomic_write_json, read_rows
from realedit_bench.judges.canaries import DEFAULT_THRESHOLD, KINDS, PER_CATEGORY, CanaryRun, run_canaries
from realedit_bench.judges.drift import N_ANCHORS, DriftRun, run_drift_check
from realedit_bench.judges.panel_stats import JudgeRows, panel_perspective
from realedit_bench.judges.session import JudgeContext, JudgeOutcome, judge_edits
from realedit_bench.judges.summary import latest_rows
from realedit_bench.outcome import EXIT_INTERRUPTED, Outcome
from realedit_bench.provenance import utc_now
from realedit_bench.schema.agree import Stat
from realedit_bench.schema.base import PERSPECTIVES
from realedit_bench.schema.judge import JudgmentRow
from realedit_bench.schema.trust import PanelJudge, PanelPerspective, PanelSummary
from realedit_bench.userfiles import loads_toml, read_text

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
    rubric: str | Path | None


def load_panel(path: Path | str, default_rubric: str | Path | None) -> tuple[str, list[PanelSpec]]:
    """Read a panel file (module docstring): its name and judges. Raises ConfigError when malformed."""
    path = Path(path)
    text = read_text(path, what="--panel", max_bytes=1 << 20, error=ConfigError)
    data = loads_toml(text, f"--panel {path}", ConfigError)
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
    judges: Sequence[str], panel: Path | str | None, rubric: str | Path | None
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
    name, specs = panel_specs(judges, panel, options.pop("rubric", None))
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
    result.warnings = _warnings(result, several=len(specs) > 1)
    if options.get("dry_run"):
        result.warnings += _checks_not_estimated(canaries, drift_check)
    result.exit_code = max((o.exit_code for o in result.judges), default=0)
    if len(specs) > 1 and len(collected) == len(specs):
        result.summary, result.path = write_panel(name, collected)
    return result


def _checks_not_estimated(canaries: bool, drift_check: bool) -> list[str]:
    """What a dry run leaves out of its estimate: the checks run only after the edits are judged."""
    probes = sum(len(expects) for expects in KINDS.values())
    parts = [f"--canaries (per judge: {PER_CATEGORY} samples of each edit type x {probes} probe asks)"]
    parts *= canaries
    parts += [f"--drift-check (per judge: up to {N_ANCHORS} asks)"] * drift_check
    return [f"not in this estimate: {' and '.join(parts)}"] if parts else []


def _warnings(result: PanelOutcome, several: bool) -> list[str]:
    """Every judge's warnings, then its checks', each naming the judge it is about (with several judges, or
    for a check whose line does not name it already)."""
    lines = [f"{o.judge}: {w}" if several else w for o in result.judges for w in o.warnings]
    checks = [*((j, c.warnings) for j, c in result.canaries.items()),
              *((j, d.warnings) for j, d in result.drift.items())]
    for judge, warnings in checks:
        lines += [w if judge in w else f"{judge}: {w}" for w in warnings]
    return lines


def write_panel(name: str, collected: Sequence[_Collected]) -> tuple[PanelSummary, Path]:
    """Compute and write the panel summary of judges that judged the same edits."""
    from realedit_bench.judges.runner import safe_name

    first = collected[0].ctx
    edits = first.edits
    current = {it.sample.sample_id: sha256_file(it.edited) for it in edits.items}
    samples = [(it.sample.sample_id, it.sample.image_id) for it in edits.items]
    judges = [_judge_rows(c, current) for c in collected]
    perspectives: dict[str, PanelPerspective] = {
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
