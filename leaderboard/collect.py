"""Find and read the result files under ``--runs``: run directories and plain judged folders.

A **run directory** holds ``manifest.json`` and ``edits.jsonl`` (``realedit run``). A **plain folder**
of edited images judged by ``realedit judge`` holds ``judgments/`` without a manifest; its model name is
the folder name, as ``realedit judge`` records it. Every file is read through the schemas in
``realedit_bench.schema``, so a file from a newer realedit is refused with one clear line.

**Stale judgments.** A rerun of ``realedit run`` can redo a sample's image after it was judged. Such a
judgment is of an older image (the rule is in :mod:`realedit_bench.judges.stale`): it is left out of every
number, and the summary is recomputed from the current rows (the ``summary.json`` beside them was written
at judge time).

**Out-of-date metrics.** The report shows no metric mean that no longer describes the run:

* *older images*: in a run directory, a ``metrics.jsonl`` row whose ``image_sha256`` is not the sample's
  current ``output_sha256`` in ``edits.jsonl`` (the image was redone, has failed since, or the run no
  longer holds the sample) is left out, and the means are recomputed from the remaining rows with the
  metrics runner's own :func:`~realedit_bench.metrics.runner.summarize` (same resamples and seed), as stale
  judgments are. Recomputing rather than only flagging keeps every shown number about current images; the
  page and the console say how many samples were left out. A row without ``image_sha256`` cannot be
  compared and is kept.
* *older formulas*: a mean whose ``metric_models[name]['definition']`` (1 when absent) differs from the
  installed metric's ``definition`` is moved to ``excluded``: its column shows '–' with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.judges.stale import is_stale
from realedit_bench.labels import run_changes
from realedit_bench.schema import (
    EditRow,
    JudgeSummary,
    JudgmentRow,
    MetricRow,
    MetricSummary,
    RunManifest,
)

SUMMARY_SUFFIX = ".summary.json"
#: The benchmark of a plain folder that names none.
REAL_EDIT = "real-edit"


class SampleScores(NamedTuple):
    """One sample's judged values for one perspective, averaged over the ok repeats of ``--repeats K``."""

    image_id: str
    category: str
    verdict: float
    score: float


@dataclass
class JudgedSet:
    """One ``judgments/<judge>__<rubric>`` pair of a run: its summary and (lazily) its rows.

    ``rows`` are the current rows only: the last row of each (sample, perspective, repeat), as the judge
    counts them, less stale ones. With stale rows, ``summary`` is recomputed from ``rows`` on first use of
    :meth:`check_stale` (:func:`load_run` calls it); ``file_summary`` keeps what the file says.
    """

    stem: str
    summary: JudgeSummary
    rows_path: Path
    #: sample id -> its edit rows in file order; None for a plain folder (no edit history).
    history: dict[str, list[EditRow]] | None = None
    file_summary: JudgeSummary | None = None
    _rows: list[JudgmentRow] | None = None
    _stale: list[JudgmentRow] = field(default_factory=list)
    _per_sample: dict[str, dict[str, SampleScores]] = field(default_factory=dict)

    @property
    def rows(self) -> list[JudgmentRow]:
        """Current judgment rows (read once; empty when the JSONL file is absent)."""
        if self._rows is None:
            from realedit_bench.judges.summary import latest_rows

            every = read_rows(self.rows_path, JudgmentRow) if self.rows_path.is_file() else []
            latest = list(latest_rows(every).values())
            self._stale = [
                r
                for r in latest
                if is_stale(r, None if self.history is None else self.history.get(r.sample_id, []))
            ]
            stale_ids = {id(r) for r in self._stale}
            self._rows = [r for r in latest if id(r) not in stale_ids]
        return self._rows

    @property
    def stale(self) -> list[JudgmentRow]:
        """Latest rows left out because they judged an older image."""
        _ = self.rows
        return self._stale

    def check_stale(self) -> int:
        """Read the rows; with stale ones, recompute the summary from the current rows. Returns the count."""
        if self.stale and self.file_summary is None:
            from realedit_bench.judges.summary import summarize_rows

            s = summarize_rows(self.rows)
            self.file_summary = self.summary
            self.summary = self.summary.model_copy(
                update={
                    "perspectives": s["perspectives"],
                    "per_category": s["per_category"],
                    "n_samples": s["n_samples"],
                    "usage": s["usage"],
                    "paper_figures": s["paper_figures"],
                    "paper_intervals": s["paper_intervals"],
                    "paper_parser_dropped": s["paper_parser_dropped"],
                    "variance": s["variance"],
                }
            )
        return len(self.stale)

    def judged_samples(self) -> dict[str, str]:
        """sample id -> source photo id of every sample with a judgment row (of any status)."""
        return {row.sample_id: row.image_id for row in self.rows}

    def per_sample(self, perspective: str) -> dict[str, SampleScores]:
        """sample id -> mean verdict and score over ok rows of ``perspective`` (computed once)."""
        if perspective in self._per_sample:
            return self._per_sample[perspective]
        acc: dict[str, list] = {}
        for row in self.rows:
            if (
                row.perspective != perspective
                or row.status != "ok"
                or row.score is None
                or row.verdict is None
            ):
                continue
            entry = acc.setdefault(row.sample_id, [row.image_id, row.category, 0.0, 0.0, 0])
            entry[2] += float(row.verdict)
            entry[3] += float(row.score)
            entry[4] += 1
        out = {sid: SampleScores(e[0], e[1], e[2] / e[4], e[3] / e[4]) for sid, e in acc.items()}
        self._per_sample[perspective] = out
        return out


@dataclass
class RunData:
    """Everything the site shows about one run directory or plain folder."""

    root: Path
    run_id: str
    model: str
    manifest: RunManifest | None
    edits: list[EditRow]
    judged: list[JudgedSet] = field(default_factory=list)
    metrics: MetricSummary | None = None
    # : Display name that tells copies apart: the run id, or "<run id> in <folder>/" when another folder has
    # it too.
    label: str = ""
    #: How the site names the run: its recorded label or the model with its changed settings
    #: (:mod:`leaderboard.labels`), with the run id added where two runs would read alike.
    display: str = ""
    #: Settings that differ from the editor's defaults, and the seed when not 0; None when the defaults are
    #: not known (a plain folder, an editor not installed here).
    changed: dict[str, Any] | None = None
    #: Distinct source photos among the samples the metrics measured (the clusters of their intervals);
    #: those of the run's edited images when ``metrics.jsonl`` is absent; None for a plain folder.
    metrics_photos: int | None = None
    #: What ``metrics_summary.json`` says, when ``metrics`` was corrected (out-of-date values left out).
    metrics_file: MetricSummary | None = None
    #: Samples whose metric values are of older images (left out of ``metrics``).
    n_metrics_stale: int = 0
    #: Metrics whose values were computed with an older formula (shown as '–').
    metrics_old_formula: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.label = self.label or self.run_id
        if not self.display:
            self.display = self.manifest.label if self.manifest is not None else self.model
        if self.manifest is not None and self.changed is None:
            m = self.manifest
            self.changed = run_changes(m.adapter.name, m.adapter.params, m.base_seed)

    @property
    def benchmark(self) -> str:
        """The run's benchmark: its manifest's, a plain folder's metrics summary's, else Real-Edit."""
        if self.manifest is not None:
            return self.manifest.benchmark.name
        if self.metrics is not None and self.metrics.benchmark:
            return self.metrics.benchmark
        return REAL_EDIT

    @property
    def failed_edits(self) -> list[EditRow]:
        """Current edit rows whose edit failed (no image; rerunning redoes them)."""
        return [e for e in self.edits if e.status == "error"]

    @property
    def refused_edits(self) -> list[EditRow]:
        """Current edit rows a paid API's moderation refused: the editor's final answer, not a failure."""
        return [e for e in self.edits if e.status == "refused"]

    @property
    def metrics_warnings(self) -> list[str]:
        """One line per reason some metric values of this run are not shown (page and console)."""
        out = []
        if self.n_metrics_stale:
            n = self.n_metrics_stale
            out.append(
                f"metric values of {n} sample{'s are' if n != 1 else ' are'} of older images, left out of "
                "the means; rerun realedit metrics"
            )
        for name in self.metrics_old_formula:
            out.append(
                f"{name} was measured with an older formula, not shown; rerun realedit metrics --metric "
                f"{name}"
            )
        return out

    @property
    def n_stale(self) -> int:
        """Judgments left out of the numbers because they are of older images."""
        return sum(len(js.stale) for js in self.judged)


def _judged_sets(root: Path) -> list[JudgedSet]:
    jdir = root / "judgments"
    if not jdir.is_dir():
        return []
    out = []
    for path in sorted(jdir.glob(f"*{SUMMARY_SUFFIX}")):
        stem = path.name[: -len(SUMMARY_SUFFIX)]
        out.append(JudgedSet(stem, read_model(path, JudgeSummary), jdir / f"{stem}.jsonl"))
    return out


def load_run(root: Path) -> RunData | None:
    """Read one run directory or judged plain folder; None when ``root`` holds neither."""
    root = Path(root)
    manifest_path = root / "manifest.json"
    judged = _judged_sets(root)
    metrics_path = root / "metrics_summary.json"
    metrics = read_model(metrics_path, MetricSummary) if metrics_path.is_file() else None
    if manifest_path.is_file():
        manifest = read_model(manifest_path, RunManifest)
        edits_path = root / "edits.jsonl"
        # exists(), not is_file(): a named pipe or a folder there is refused in one line, not passed over.
        rows = read_rows(edits_path, EditRow) if edits_path.exists() else []
        # A resumed run may rewrite a sample: the last row wins, as in realedit_bench.inputs.
        edits = list({r.sample_id: r for r in rows}.values())
        history: dict[str, list[EditRow]] = {}
        for r in rows:
            history.setdefault(r.sample_id, []).append(r)
        for js in judged:
            js.history = history
            js.check_stale()
        run = RunData(root, manifest.run_id, manifest.adapter.name, manifest, edits, judged, metrics)
        _check_metrics(run, history)
        if metrics is not None and run.metrics_photos is None:
            # No rows to count (only the summary): the metrics measured the run's edited images.
            run.metrics_photos = len({e.image_id for e in edits if e.status == "ok"})
        return run
    if judged or metrics is not None:
        model = judged[0].summary.model if judged else (metrics.model if metrics else root.name)
        run = RunData(root, root.name, model, None, [], judged, metrics)
        _check_metrics(run, None)
        return run
    return None


def _metric_row_stale(row: MetricRow, versions: list[EditRow]) -> bool:
    """True when ``row`` measured an image other than the sample's current one (see the module docstring)."""
    if row.image_sha256 is None:
        return False  # nothing to compare with
    if not versions:
        return True  # the run no longer holds the sample
    cur = versions[-1]
    if cur.status != "ok":
        return True  # no current image: the values are of an older one
    return cur.output_sha256 is not None and cur.output_sha256 != row.image_sha256


def _check_metrics(run: RunData, history: dict[str, list[EditRow]] | None) -> None:
    """Leave out metric values of older images (run directories) and of older formulas (see the docstring)."""
    file = run.metrics
    if file is None:
        return
    summary = file
    rows_path = run.root / "metrics.jsonl"
    if history is not None and rows_path.is_file():
        latest = {r.sample_id: r for r in read_rows(rows_path, MetricRow)}  # the last row of a sample wins
        stale = {sid for sid, r in latest.items() if _metric_row_stale(r, history.get(sid, []))}
        current = [r for sid, r in latest.items() if sid not in stale]
        run.metrics_photos = len({r.image_id for r in current if r.status == "ok"})
        n_old = sum(1 for sid in stale if latest[sid].status == "ok" and latest[sid].values)
        if n_old:
            from realedit_bench.metrics.runner import summarize

            boot = file.bootstrap or {}
            summary = summarize(
                current,
                list(file.means),
                reference=file.reference,
                run_id=file.run_id,
                model=file.model,
                benchmark=file.benchmark,
                n_missing=file.n_missing + n_old,
                n_resamples=int(boot.get("resamples", 2000)),
                seed=int(boot.get("seed", 0)),
                command=file.command,
            )
            # The file's stamps, not the clock: the same inputs build the same site.
            summary = summary.model_copy(
                update={"created_at": file.created_at, "realedit_version": file.realedit_version}
            )
            run.n_metrics_stale = n_old
    summary, old = drop_old_formulas(summary)
    run.metrics_old_formula = old
    if summary is not file:
        run.metrics_file, run.metrics = file, summary


def drop_old_formulas(summary: MetricSummary) -> tuple[MetricSummary, list[str]]:
    """``summary`` without the means of metrics computed with another formula than the installed one's.

    Such a metric moves to ``excluded``; a summary from before formula versions records no definition (1).
    """
    from realedit_bench.metrics.runner import old_formula_reason
    from realedit_bench.registry import METRICS

    # Already left out by the summary itself (a summary written after formula versions existed).
    old = [n for n, why in summary.excluded.items() if why == old_formula_reason(n)]
    already = list(old)
    for name in summary.means:
        try:
            metric = METRICS.get(name)
        except RealEditError:
            continue  # not installed here: nothing to compare with
        model = summary.metric_models.get(name) or (
            summary.metric_models.get(metric.encoder) if metric.encoder else None
        )
        if int((model or {}).get("definition", 1)) != metric.definition:
            old.append(name)
    if old == already:
        return summary, old
    gone = set(old)
    return summary.model_copy(
        update={
            "means": {k: v for k, v in summary.means.items() if k not in gone},
            "cis": {k: v for k, v in summary.cis.items() if k not in gone},
            "per_category": {
                c: {k: v for k, v in d.items() if k not in gone} for c, d in summary.per_category.items()
            },
            "metric_models": {k: v for k, v in summary.metric_models.items() if k not in gone},
            "excluded": {**summary.excluded, **{n: old_formula_reason(n) for n in old}},
        }
    ), old


def find_runs(runs: Path, *, must_exist: bool) -> list[RunData]:
    """Every run under ``runs`` (the folder itself, or its direct children), ordered by run id.

    Args:
        runs: a folder of runs, or one run directory.
        must_exist: raise when ``runs`` is absent (the user named it) instead of returning no run.

    Raises:
        ConfigError: ``runs`` is missing although named, or is not a directory.
    """
    runs = Path(runs)
    if not runs.exists():
        if must_exist:
            raise ConfigError(
                f"--runs {runs} does not exist (give the folder that 'realedit run --out' wrote)"
            )
        return []
    if not runs.is_dir():
        raise ConfigError(f"--runs {runs} is not a directory")
    own = load_run(runs)
    if own is not None:
        return [own]
    found = []
    for child in sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")):
        run = load_run(child)
        if run is not None:
            found.append(run)
    found.sort(key=lambda r: (r.run_id, str(r.root)))
    ids = [r.run_id for r in found]
    for r in found:
        # A copied run folder has the same run id: name the folder so the two rows can be told apart.
        r.label = (
            f"{r.run_id} in {r.root.name}/"
            if ids.count(r.run_id) > 1 and r.root.name != r.run_id
            else r.run_id
        )
    shown = [r.display for r in found]
    for r in found:
        # Two runs of one model with the same settings (another seed, a copy) would read alike.
        if shown.count(r.display) > 1:
            r.display = f"{r.display} [{r.label}]"
    return found
