"""realedit as a library: one function per command-line verb, for notebooks and other tools.

Each function takes typed keyword arguments (the command line's options), checks every input a user can
get wrong before any model loads or money is spent (raising :class:`~realedit_bench.errors.RealEditError`
with a one-line message), does the work, and returns a result object: a subclass of
:class:`~realedit_bench.outcome.Outcome` that knows its exit code (``outcome.exit_code``) and says what
was done (``outcome.describe()``), with the paths written and the counts as fields. The ``realedit``
command line parses its options, calls one of these functions, prints the result and exits with its code.

=====================  ==============================================================================
``run_model``          ``realedit run``: run an editor over a benchmark into a resumable run directory
``judge_edits``        ``realedit judge``: lives in :mod:`realedit_bench.judges.session`, re-exported here
``compute_metrics``    ``realedit metrics``: CLIP-I, DINO, L1, L2 (CLIP-T, directional CLIP with captions)
``build_report``       ``realedit report``: the static leaderboard site and table exports
``agree``              ``realedit agree``: judge scores held against human ratings
``agree_template``     ``realedit agree --template``: a blank ratings sheet and an annotation page
``train_reward``       ``realedit reward train``: the reward-conditioned InstructPix2Pix (or SmartEdit)
``annotate_rewards``   ``realedit reward annotate``: reward labels for editing triplets from a VLM judge
``fetch_data``         ``realedit data fetch``; ``verify_data`` and ``data_info`` for ``verify`` and ``info``
``list_models``        ``realedit models``; ``model_settings`` for ``--params NAME``
``convert_weights``    ``realedit weights convert``: released weights converted once for loading
``reproduce_table``    ``realedit reproduce``: the paper's Tables 1-3 beside ours, cell by cell
=====================  ==============================================================================

Long calls take ``on_progress(done, total)`` and ``log(line)`` callbacks; without them they work quietly.
An ``on_progress`` object with ``phase(label)`` and ``step(done, total)`` methods also hears what is loading
and the steps of the item in flight (the command line's progress display is such an object).
Nothing heavy is imported here: each function imports what it needs when it is called.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from realedit_bench.errors import ConfigError
from realedit_bench.judges.session import JudgeOutcome, judge_edits
from realedit_bench.outcome import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_SOME_FAILED,
    AgreeOutcome,
    AnnotateOutcome,
    ConvertOutcome,
    DataInfo,
    FetchOutcome,
    LogCallback,
    MetricsOutcome,
    ModelList,
    ModelSettings,
    ProgressCallback,
    ReportOutcome,
    ReproduceOutcome,
    RunOutcome,
    SiteCounts,
    TemplateOutcome,
    TrainOutcome,
    VerifyOutcome,
    report_phase,
)

if TYPE_CHECKING:
    from reward_model.train import TrainConfig

#: A path as a notebook writes it.
PathLike = str | os.PathLike[str]

__all__ = [
    "JudgeOutcome", "agree", "agree_template", "annotate_rewards", "build_report", "compute_metrics",
    "convert_weights", "data_info", "fetch_data", "judge_edits", "list_models", "model_settings",
    "reproduce_table", "run_model", "train_reward", "verify_data",
]


def _quiet(line: str) -> None:
    """The default ``log``: say nothing."""


def _no_progress(done: int, total: int | None) -> None:
    """The default ``on_progress``: show nothing."""


def _path(value: PathLike | None) -> Path | None:
    return None if value is None else Path(value)


def _counter(on_progress: ProgressCallback, total: int) -> Callable[[int], None]:
    """``advance(n)`` calls for ``on_progress(done, total)``, which is told first that the work starts."""
    on_progress(0, total)
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        on_progress(done[0], total)

    return advance


# --------------------------------------------------------------------------------------------- run


def run_model(
    model: str, *, out: PathLike = "runs", run_id: str | None = None, weights: str | None = None,
    revision: str | None = None, settings: Mapping[str, object] | None = None, device: str = "auto",
    dtype: str = "auto", seed: int = 0, batch_size: int = 1, limit: int | None = None,
    categories: Sequence[str] | None = None, samples: str | Sequence[str] | None = None,
    benchmark: str = "real-edit", data_dir: PathLike | None = None, force: bool = False,
    num_processes: int = 1, relaunch_argv: Sequence[str] | None = None, label: str | None = None,
    wait_for_lock: bool = False, follow_symlinks: bool = False, on_progress: ProgressCallback | None = None,
    log: LogCallback | None = None, dry_run: bool = False, max_cost: float | None = None,
) -> RunOutcome:
    """Run an editing model over a benchmark into ``<out>/<run_id>/`` (manifest, edits.jsonl, images/).

    Rerunning the same call resumes: finished samples are skipped. A sample that fails is recorded and the
    run goes on. Ctrl-C (or SIGTERM) stops after the current batch with everything kept (exit code 130).
    One process writes a run directory at a time.

    Args:
        model: Registered editor name (``list_models()``), e.g. ``"instruct-pix2pix"`` or ``"identity"``, or
            ``"python:module:Class"`` for an editor class importable from the Python path.
        out: Parent folder of run directories.
        run_id: Run directory name; default ``<model>-<benchmark>-<hash of every setting>``, so the same
            call resumes the same run.
        weights: A hub id or a local directory of weights.
        revision: Hub revision (branch, tag or commit) of the weights.
        settings: The editor's own settings (``model_settings(model)``), e.g. ``{"steps": 20}``; strings
            are converted to the setting's type as ``-M key=value`` is.
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        dtype: ``auto`` (fp16 on CUDA, fp32 on CPU), ``fp32``, ``fp16`` or ``bf16``.
        seed: Base seed; each sample's seed derives from it and the sample id.
        batch_size: Samples per pipeline call.
        limit: Only the first N selected samples.
        categories: Only these edit types (Real-Edit: local, remove, add, texture, background, global, style).
        samples: Only these sample ids: a list, or one comma-separated string as typed.
        benchmark: Benchmark name (``real-edit``, ``magicbrush``).
        data_dir: Benchmark data folder (default ``$REALEDIT_DATA_DIR``, else the cache).
        force: Redo selected samples even if finished; replace a run of other settings in the run directory.
        num_processes: Shard samples over N processes (one per GPU). Outside a launcher this needs
            ``relaunch_argv``: the call then reruns that command line under ``accelerate launch``.
        relaunch_argv: The ``realedit`` arguments of the command making this call (the command line's own).
        label: The run's display name, recorded in the manifest; default: the one the run already has,
            else the model's name and the settings that differ from its defaults.
        wait_for_lock: Wait for another process writing the run directory to end (else that is an error).
        follow_symlinks: Read source photos that symlinks lead outside the data folder.
        on_progress: Called with (samples done, samples to do) as the run goes (main process only); told
            the loading phase and the editor's steps when it listens (see ``ProgressCallback``).
        log: Receives notes made before the run starts (e.g. that ``force`` replaces a run).
        dry_run: Say what would be edited and what a paid API would cost; no key, nothing loaded or sent.
        max_cost: USD a paid API editor (key from the environment) may spend; in-flight calls reserve theirs.

    Returns:
        The run directory, manifest, counts (and a paid editor's spend); exit code 0: every sample ok (or
        refused by an API), 1: some failed, 2: the budget or the API stopped it, 130: stopped (or the
        launched processes' exit code).
    """
    from realedit_bench import runner as rn
    from realedit_bench.devices import check_device, check_dtype
    from realedit_bench.inputs import load_benchmark
    from realedit_bench.registry import ADAPTERS

    check_device(device)
    check_dtype(dtype)
    adapter_cls = ADAPTERS.get(model)
    name = rn.editor_name(model, adapter_cls)
    bench = load_benchmark(benchmark, _path(data_dir), follow_symlinks=follow_symlinks)
    chosen = rn.select_samples(bench, limit=limit, categories=categories, samples=samples)
    rn.check_run_options(num_processes, run_id, remote=rn.is_remote(adapter_cls))
    procs = rn.Processes.from_env()
    if num_processes > 1 and procs.world == 1 and not dry_run:
        return RunOutcome(exit_code=rn.relaunch(num_processes, relaunch_argv))
    from realedit_bench.labels import default_label

    editor = rn.build_editor(adapter_cls, name, settings or {}, weights=weights, revision=revision,
                             device=procs.device(device), dtype=dtype)
    rn.check_paid_options(editor, name, dry_run=dry_run, max_cost=max_cost)
    if label is not None and not label.strip():
        raise ConfigError("--label must not be empty")
    runs = Path(out)
    runner = rn.Runner(
        editor, model_name=name, family=getattr(adapter_cls, "family", ""), bench=bench, samples=chosen,
        filters=rn.recorded_filters(limit, categories, samples),
        run_dir=runs / (run_id or rn.run_id_for(name, bench.name, editor.params(), seed)), base_seed=seed,
        batch_size=batch_size, force=force, process_index=procs.rank, num_processes=procs.world, label=label,
        default_label=default_label(name, editor.params(), seed), max_cost=max_cost,
    )
    if dry_run:
        return RunOutcome(run_dir=runner.run_dir, n_selected=len(chosen), plan=rn.plan_run(runner, name))
    return rn.hold_and_run(runner, editor, runs, wait_for_lock=wait_for_lock, log=log,
                           on_progress=on_progress)


# ----------------------------------------------------------------------------------------- metrics


def compute_metrics(
    images: PathLike, *, metrics: Sequence[str] | None = None, benchmark: str | None = None,
    data_dir: PathLike | None = None, model: str | None = None, clip_weights: PathLike | None = None,
    clip_model: str = "ViT-B-32-quickgelu", clip_pretrained: str = "openai",
    dino_weights: PathLike | None = None, dino_revision: str = "main", device: str = "auto",
    batch_size: int = 32, out: PathLike | None = None, resamples: int = 2000, seed: int = 0,
    wait_for_lock: bool = False, follow_symlinks: bool = False, on_progress: ProgressCallback | None = None,
    log: LogCallback | None = None,
) -> MetricsOutcome:
    """Compute automatic metrics of edited images and write ``metrics.jsonl`` and ``metrics_summary.json``.

    On Real-Edit the image metrics compare each edit with its source photo (preservation); on MagicBrush
    with the ground-truth target. A value already measured on the same edited image, reference and metric
    weights is reused, and computing a subset of the metrics keeps the others. A metric whose default
    weights cannot be fetched (no network) is left out with one line saying how to make a local copy, and
    the others are measured (exit code 1: partly measured); when none is left, that line is the error.

    Args:
        images: A run directory of ``run_model``, or a folder of edited images named ``<sample_id>.png``.
        metrics: Metric names (``l1``, ``l2``, ``clip_i``, ``dino``, ``clip_t``, ``clip_dir`` or a
            registered one); default every built-in metric the benchmark supports.
        benchmark: Benchmark of a plain folder (default ``real-edit``); a run directory names its own.
        data_dir: Benchmark data folder.
        model: Name of the editing model (default: from the run or the folder name).
        clip_weights: Local CLIP weights (open_clip directory or checkpoint); default OpenAI ViT-B/32.
        clip_model: open_clip architecture.
        clip_pretrained: open_clip pretrained tag (hub default).
        dino_weights: Local DINO weights (a transformers directory); default facebook/dino-vits16.
        dino_revision: Hub revision of facebook/dino-vits16.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        batch_size: Samples per model forward.
        out: Where the two files go (default: ``images``).
        resamples: Bootstrap resamples (over source photos) of the intervals.
        seed: Bootstrap seed.
        wait_for_lock: Wait for another ``compute_metrics`` writing the same folder to end (else an error).
        follow_symlinks: Read images that symlinks lead outside the data or images folder.
        on_progress: Called with (samples done, samples in all) as the work goes; told the loading phase
            when it listens (see ``ProgressCallback``).
        log: Receives the missing edits, unmatched files, metrics left out and what is measured, before the
            work starts.

    Returns:
        The summary and the files written; exit code 1 when some samples or metrics could not be measured.
    """
    from realedit_bench.inputs import resolve_edits
    from realedit_bench.locks import folder_lock
    from realedit_bench.metrics import runner as mr
    from realedit_bench.metrics.encoders import describe_refs, resolve_device
    from realedit_bench.provenance import command_line
    from realedit_bench.settings import check_out_dir

    say = log or _quiet
    # Every check a user can fix happens before a model loads.
    dev = resolve_device(device)
    edits = resolve_edits(Path(images), data_dir=_path(data_dir), benchmark=benchmark, model=model,
                          follow_symlinks=follow_symlinks)
    target = Path(out) if out is not None else edits.root
    check_out_dir(target, "--out" if out is not None else "--images")
    with folder_lock(target, mr.LOCK_NAME, "realedit metrics", wait=wait_for_lock, log=say):
        chosen, encoders, left_out = _measurable(
            mr.choose_metrics(metrics, edits.benchmark), on_progress, clip_weights=_path(clip_weights),
            clip_model=clip_model, clip_pretrained=clip_pretrained, dino_weights=_path(dino_weights),
            dino_revision=dino_revision, device=dev,
        )
        for note in [*left_out.values(), *mr.input_notes(edits)]:
            say(note)
        refs = {k: e.ref for k, e in encoders.items()}
        say(f"{edits.model}: {len(edits.items)} edits on {edits.benchmark.name} ({edits.n_missing} missing); "
            f"metrics {', '.join(m.name for m in chosen)} on {dev}"
            + (f"; {describe_refs(refs)}" if refs else ""))
        advance = _counter(on_progress, len(edits.items)) if on_progress is not None else None
        result = mr.compute_metrics(edits, chosen, encoders, out_dir=_path(out), batch_size=batch_size,
                                    n_resamples=resamples, seed=seed, command=command_line(),
                                    on_progress=advance)
    failed = mr.failed_samples(result.rows_path) if result.summary.n_error else []
    return MetricsOutcome(exit_code=EXIT_SOME_FAILED if failed or left_out else 0, summary=result.summary,
                          rows_path=result.rows_path, summary_path=result.summary_path,
                          measured=result.measured, reused=result.skipped, failed=failed,
                          not_measured=left_out)


class _Measurable(NamedTuple):
    """The metrics whose models loaded, those models, and a line per model that did not."""

    metrics: list[Any]
    encoders: dict[str, Any]
    left_out: dict[str, str]


def _measurable(chosen: list[Any], on_progress: ProgressCallback | None, **weights: Any) -> _Measurable:
    """Load the models of ``chosen``; the metrics of a model whose hub weights cannot be loaded are left out
    with one line each (what, why, the way out), unless nothing would be left (then the first is raised)."""
    from realedit_bench.errors import WeightsError
    from realedit_bench.metrics.encoders import load_available

    need = sorted({m.encoder.upper() for m in chosen if m.encoder})
    if need:
        report_phase(on_progress, f"loading {' and '.join(need)} weights")
    loaded = load_available(chosen, **weights)
    kept = [m for m in chosen if m.encoder not in loaded.failed]
    without = ",".join(m.name for m in kept) or "l1,l2"
    if not kept:
        raise WeightsError(f"{next(iter(loaded.failed.values()))}; or measure the metrics that need no "
                           f"weights: --metric {without}")
    left_out = {}
    for enc, why in loaded.failed.items():
        names = [m.name for m in chosen if m.encoder == enc]
        left_out[", ".join(names)] = (f"{', '.join(names)} not measured: {why}; or leave "
                                      f"{'it' if len(names) == 1 else 'them'} out: --metric {without}")
    return _Measurable(kept, loaded.encoders, left_out)


# ------------------------------------------------------------------------------------------ report


def build_report(
    runs: PathLike | None = None,
    *,
    out: PathLike = "site",
    formats: Sequence[str] = ("html",),
    reference: bool = True,
    rank_by: str = "overall",
    data_dir: PathLike | None = None,
    agreement: Sequence[PathLike] = (),
    gallery: bool = True,
    calibration: PathLike | None = None,
) -> ReportOutcome:
    """Build a self-contained static site (``<out>/index.html``) and/or table exports from every run.

    Args:
        runs: Folder of run directories, or one run directory; default ``runs/`` (which may be absent:
            the site then shows the published reference numbers only).
        out: Folder to write the site into.
        formats: What to write: ``html`` (the site), ``md``, ``csv``, ``json`` (the leaderboard table).
        reference: Show the paper's published rows (Tables 1-3) apart from measured rows.
        rank_by: Rank each table by ``overall``, ``following``, ``preserving`` or ``quality``.
        data_dir: Real-Edit data folder for the gallery's source photos (default: what each run recorded).
        agreement: ``agreement.json`` files to add as pages (``runs/**/agreement*.json`` are found anyway).
        gallery: Write the gallery pages and thumbnails.
        calibration: A calibration file of ``agree(fit_calibration=...)``: calibrated scores beside the raw.

    Returns:
        The index page, the exports and the counts.
    """
    from leaderboard.site import build_site

    runs_dir = Path(runs) if runs is not None else Path("runs")
    site = build_site(
        runs_dir, Path(out), reference=reference, rank_by=rank_by, formats=formats, data_dir=_path(data_dir),
        agreement=[Path(a) for a in agreement], runs_must_exist=runs is not None, gallery=gallery,
        calibration=_path(calibration),
    )
    return ReportOutcome(runs_dir=runs_dir, **{f.name: getattr(site, f.name) for f in fields(SiteCounts)})


# ------------------------------------------------------------------------------------------- agree


def agree(
    human: Sequence[PathLike],
    judgments: Sequence[PathLike] = (),
    judge_ratings: Sequence[PathLike] = (),
    *,
    out: PathLike | None = None,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    on_progress: ProgressCallback | None = None,
    log: LogCallback | None = None,
    fit_calibration: PathLike | None = None,
) -> AgreeOutcome:
    """Hold a judge's scores against human ratings and write ``agreement.json``.

    Correlations, kappa, alpha, bias and model ranking with bootstrap intervals over source photos. Every
    input is read and validated before any statistic is computed.

    Args:
        human: Human ratings files (``.csv``, ``.tsv``, ``.jsonl``, ``.json``; format in
            :mod:`realedit_bench.agreement.ratings`).
        judgments: Judgments of ``realedit judge``: files, run directories or their ``judgments/`` folders.
        judge_ratings: Judge scores made elsewhere, in the shapes of ``human`` (the rater column names
            the judge).
        out: Where ``agreement.json`` goes (default: beside the run directories of ``judgments``, where
            ``build_report`` finds it; else ``./agreement.json``).
        resamples: Bootstrap resamples of source photos.
        seed: Bootstrap seed.
        level: Interval level.
        on_progress: Called with (judge x perspective pairs done, pairs in all) as the bootstrap goes; told
            the phase when it listens (see ``ProgressCallback``).
        log: Receives the warnings about the ratings files (ignored columns, blank rows).
        fit_calibration: Also fit each judge's monotone map to the human scale and write it here
            (:mod:`realedit_bench.agreement.calibration`), for ``build_report(calibration=...)``.

    Returns:
        The report and where it was written.
    """
    from realedit_bench import __version__
    from realedit_bench.agreement import compute as ac
    from realedit_bench.agreement.ratings import read_ratings
    from realedit_bench.inputs import check_judges_match, default_agreement_path, read_judgment_files
    from realedit_bench.jsonio import atomic_write_json
    from realedit_bench.provenance import command_line, utc_now
    from realedit_bench.schema.agree import AgreementReport

    if not human:
        raise ConfigError("give --human ratings.csv (or --template RUN to make a ratings sheet); see --help")
    if not judgments and not judge_ratings:
        raise ConfigError("give the judge's scores: --judgments runs/<id>/judgments/<file>.jsonl or "
                          "--judge-ratings FILE")
    target = Path(out) if out is not None else default_agreement_path([Path(p) for p in judgments])
    report_phase(on_progress, "reading the ratings and judgments")
    hs = read_ratings([Path(p) for p in human], what="--human")
    inputs = _rating_inputs(hs, "human")
    read = read_judgment_files([Path(p) for p in judgments])
    inputs += read.inputs
    judges = ac.judges_from_judgment_files(read.files) if read.files else []
    warnings = list(hs.warnings)
    if judge_ratings:
        js = read_ratings([Path(p) for p in judge_ratings], what="--judge-ratings")
        warnings += js.warnings
        judges += ac.judges_from_ratings(js.ratings)
        inputs += _rating_inputs(js, "judge-ratings")
    for w in warnings:
        (log or _quiet)(f"warning: {w}")
    notes = [*read.notes, *warnings, *check_judges_match(hs.ratings, judges)]
    report = AgreementReport(
        created_at=utc_now(), realedit_version=__version__, command=command_line(), inputs=inputs,
        n_resamples=resamples, seed=seed, level=level,
        raters=sorted({r.rater for r in hs.ratings}, key=ac.natural_key),
        models=sorted({r.model for r in hs.ratings}, key=ac.natural_key), n_blank_rows=hs.n_blank,
        judges=ac.compute_agreement(hs.ratings, judges, n_resamples=resamples, seed=seed, level=level,
                                 on_progress=on_progress),
        notes=notes,
    )
    atomic_write_json(target, report)
    cal = _calibrate(Path(fit_calibration), hs.ratings, judges, resamples, seed) if fit_calibration else None
    return AgreeOutcome(report=report, out=target, calibration=cal)


def _calibrate(path: Path, humans: Any, judges: Any, resamples: int, seed: int) -> Path:
    """Fit and write the calibration file of ``agree(fit_calibration=path)``."""
    from realedit_bench import __version__
    from realedit_bench.agreement.calibration import fit_calibration
    from realedit_bench.jsonio import atomic_write_json
    from realedit_bench.provenance import utc_now

    atomic_write_json(path, fit_calibration(humans, judges, n_resamples=resamples, seed=seed,
                                            created_at=utc_now(), version=__version__))
    return path


def _rating_inputs(ratings: Any, kind: Literal["human", "judge-ratings"]) -> list[Any]:
    """How each ratings file entered an agreement report (path, sha256, rows)."""
    from realedit_bench.images import sha256_file
    from realedit_bench.schema.agree import InputFile

    return [InputFile(path=str(p), kind=kind, sha256=sha256_file(p), rows=n)
            for p, n in zip(ratings.sources, ratings.per_source, strict=True)]


def agree_template(
    run: PathLike, *, out: PathLike | None = None, data_dir: PathLike | None = None, thumb_size: int = 384,
    follow_symlinks: bool = False,
) -> TemplateOutcome:
    """Write an empty ratings sheet and an annotation page (one offline HTML file) for human raters.

    Args:
        run: A run directory, or a folder of edited images named ``<sample_id>.png``.
        out: The output folder (default ``<run>/ratings/``).
        data_dir: Benchmark data folder (default: from the run manifest, ``$REALEDIT_DATA_DIR``, ...).
        thumb_size: Longest side in pixels of the thumbnails the page embeds.
        follow_symlinks: Read images that symlinks lead outside the data or images folder.

    Returns:
        The sheet and the page written.
    """
    from leaderboard.rating_page import write_annotation_page
    from realedit_bench.agreement.ratings import write_ratings_csv
    from realedit_bench.inputs import resolve_edits
    from realedit_bench.schema.base import PERSPECTIVES
    from realedit_bench.settings import check_out_dir

    edits = resolve_edits(Path(run), data_dir=_path(data_dir), follow_symlinks=follow_symlinks)
    if not edits.items:
        raise ConfigError(f"--template {run}: the run has no edited image to rate")
    folder = Path(out) if out is not None else Path(run) / "ratings"
    check_out_dir(folder, "the ratings folder (--out)")
    rows = [{"sample_id": it.sample.sample_id, "model": edits.model, "perspective": p}
            for it in edits.items for p in PERSPECTIVES]
    csv_path = folder / "ratings_template.csv"
    n = write_ratings_csv(csv_path, rows)
    html_path = write_annotation_page(edits, folder / "annotate.html", thumb_size=thumb_size)
    return TemplateOutcome(csv_path=csv_path, html_path=html_path, n_rows=n, n_edits=len(edits.items),
                           n_perspectives=len(PERSPECTIVES), n_missing=edits.n_missing)


# ------------------------------------------------------------------------------------ reward model


def train_reward(
    config: TrainConfig | Mapping[str, Any],
    *,
    num_processes: int = 1,
    relaunch_argv: Sequence[str] | None = None,
    on_progress: ProgressCallback | None = None,
    wait_for_lock: bool = False,
    log: LogCallback | None = None,
) -> TrainOutcome:
    """Train the reward-conditioned InstructPix2Pix (or resume it) into ``config.output_dir``.

    Writes ``training_settings.json``, ``train_log.jsonl``, ``logs/``, ``checkpoints/`` and, at the end,
    ``pipeline/`` (EMA weights), which ``run_model("reward-instruct-pix2pix", weights=...)`` runs. With
    ``base="smartedit"`` it trains Reward-SmartEdit, run by ``run_model("reward-smartedit", ...)``.

    Args:
        config: A :class:`reward_model.train.TrainConfig`, or a mapping of its fields (e.g.
            ``{"pretrained": ..., "output_dir": ..., "reward_files": [...]}``; defaults are the paper's).
        num_processes: GPUs on this machine. Outside a launcher this needs ``relaunch_argv``: the call then
            reruns that command line under ``accelerate launch``.
        relaunch_argv: The ``realedit`` arguments of the command making this call (the command line's own).
        on_progress: Called with (steps trained, steps to train) after each optimisation step (main
            process); told the loading phases when it listens (see ``ProgressCallback``).
        wait_for_lock: Wait for another training writing ``config.output_dir`` to end (else that is an error).
        log: Receives the launch command when the call relaunches.

    Returns:
        The steps trained and the pipeline folder; exit code 130 after Ctrl-C (resume with
        ``resume="latest"``), or the launched processes' exit code.
    """
    from realedit_bench.launch import under_launcher
    from reward_model import train as tr

    cfg = tr.as_config(config)
    tr.check_config(cfg)
    if num_processes > 1 and not under_launcher():
        return TrainOutcome(exit_code=tr.relaunch(num_processes, relaunch_argv, log))
    try:
        result = tr.train(cfg, on_progress, wait_for_lock=wait_for_lock)
    except tr.TrainingInterrupted as exc:
        return TrainOutcome(exit_code=EXIT_INTERRUPTED, output_dir=Path(cfg.output_dir), note=str(exc))
    return TrainOutcome(
        output_dir=result.output_dir, pipeline_dir=result.pipeline_dir, start_step=result.start_step,
        final_step=result.final_step, losses=list(result.losses),
        model=tr.editor_of(cfg),
    )


def annotate_rewards(
    triplets: PathLike, out: PathLike, *, judge: str = "openai/gpt-4o-2024-08-06",
    rubric: str | PathLike | None = None, limit: int | None = None, concurrency: int = 8,
    timeout: float = 60.0, max_retries: int = 5, retry_after_cap: float = 120.0, backoff: float = 1.0,
    failure_streak: int = 20, temperature: float = 0.0, seed: int = 0, max_cost: float | None = None,
    prices: PathLike | None = None, dry_run: bool = False, cache: PathLike | None = None,
    no_cache: bool = False, on_progress: ProgressCallback | None = None, log: LogCallback | None = None,
) -> AnnotateOutcome:
    """Annotate editing triplets with multi-perspective rewards (0-5 score + failure text) by a VLM judge.

    Writes ``annotations.jsonl`` (appended as answers arrive), ``rewards.jsonl`` (for ``train_reward``),
    ``rewardedit.json`` (the RewardEdit-20K layout) and ``annotate_summary.json``. Rerunning resumes;
    repeated requests come from the cache. Keys come only from the environment.

    Args:
        triplets: A folder (``<id>/source.png, edited.png, instruction.txt``, or the InstructPix2Pix release
            layout) or a ``.jsonl`` manifest (``{id, source, edited, instruction}``).
        out: Where the files go.
        judge: ``provider/model``, as for ``realedit judge``.
        rubric: A reward rubric TOML (default: ``realedit-reward-v1``, shipped).
        limit: Only the first N triplets.
        concurrency: Calls in flight at once.
        timeout: Seconds per call, in total.
        max_retries: Retries of a failed call (429, 5xx, timeout).
        retry_after_cap: Longest ``Retry-After`` honoured, in seconds.
        backoff: First backoff delay in seconds (doubles, jittered).
        failure_streak: Stop after this many failed asks in a row.
        temperature: Sampling temperature.
        seed: Provider sampling seed where supported (OpenAI).
        max_cost: Stop dispatching before this many USD would be spent.
        prices: JSON price file overriding the built-in table.
        dry_run: Count calls, tokens and estimated cost; send nothing.
        cache: SQLite judge cache (default ``<cache root>/judge-cache.sqlite``).
        no_cache: Neither read nor write the judge cache.
        on_progress: Called with (asks answered, asks to send) as answers are written; told the phase
            before (reading and hashing the triplets) when it listens (see ``ProgressCallback``).
        log: Receives progress lines.

    Returns:
        Counts, money and files; exit code 1 when asks failed for good (a rerun asks them again), 2 with
        ``error`` set when the run stopped early (budget, a fatal API error).
    """
    from realedit_bench.judges.engine import INTERRUPTED, EngineConfig
    from reward_model.data import open_triplets
    from reward_model.labels import DEFAULT_REWARD_RUBRIC, annotate

    if cache is not None and no_cache:
        raise ConfigError("--cache and --no-cache exclude each other")
    if str(triplets).startswith("hf:"):
        raise ConfigError("--triplets: annotate reads a folder or a .jsonl manifest, not a hub dataset")
    parts = _judge(judge, rubric if rubric is not None else DEFAULT_REWARD_RUBRIC, prices, max_cost)
    source = open_triplets(Path(triplets))
    engine = EngineConfig(
        concurrency=concurrency, timeout=timeout, max_retries=max_retries, backoff_base=backoff,
        retry_after_cap=retry_after_cap, failure_streak=failure_streak, temperature=temperature, seed=seed,
        max_cost=max_cost,
    )
    with _judge_cache(cache, no_cache) as jc:
        result = annotate(source, Path(out), backend=parts.backend, rubric=parts.rubric, config=engine,
                          cache=jc, prices=parts.prices, limit=limit, dry_run=dry_run, log=log or _quiet,
                          on_progress=on_progress)
    s = result.summary
    failed = sum(c.get("error", 0) for c in s.status_counts.values()) if s is not None else 0
    outcome = AnnotateOutcome(judge=judge, paths=result.paths, n_tasks=result.n_tasks, resumed=result.resumed,
                              asked=result.asked, summary=s, dry_run=result.dry_run, failed=failed,
                              exit_code=EXIT_SOME_FAILED if failed else 0)
    if result.stopped and result.stopped.startswith(INTERRUPTED):  # Ctrl-C, SIGTERM: the stop of every verb
        outcome.exit_code = EXIT_INTERRUPTED
    elif result.stopped:
        outcome.error, outcome.exit_code = f"{result.stopped}; rerun to resume", EXIT_BAD_INPUT
    return outcome


class _Judge(NamedTuple):
    """What asking a judge needs: the rubric, the price table and the backend."""

    rubric: Any
    prices: Any
    backend: Any


def _judge(judge: str, rubric: str | PathLike, prices: PathLike | None, max_cost: float | None) -> _Judge:
    """The rubric, prices and backend of ``judge`` (its key checked), before any image is read."""
    from realedit_bench.judges.backends import make_backend
    from realedit_bench.judges.prices import load_prices
    from realedit_bench.judges.rubric import load_rubric

    rub = load_rubric(str(rubric))
    price_table = load_prices(_path(prices))
    backend = make_backend(judge)
    if max_cost is not None and price_table.lookup(judge) is None:
        raise ConfigError(f"--max-cost needs a price for {judge}: add it to a --prices file")
    return _Judge(rub, price_table, backend)


@contextlib.contextmanager
def _judge_cache(cache: PathLike | None, no_cache: bool) -> Iterator[Any]:
    """The judge cache (default ``<cache root>/judge-cache.sqlite``), closed afterwards; None without one."""
    from realedit_bench.judges.cache import JudgeCache
    from realedit_bench.settings import cache_root

    path = Path(cache) if cache is not None else cache_root() / "judge-cache.sqlite"
    jc = None if no_cache else JudgeCache(path)
    try:
        yield jc
    finally:
        if jc is not None:
            jc.close()


# --------------------------------------------------------------------------------------- reproduce


def reproduce_table(
    table: str, *, runs: PathLike = "runs", out: PathLike = "site", data_dir: PathLike | None = None,
    judge: str | None = None, models: Sequence[str] = (), weights: Mapping[str, str] | None = None,
    settings: Mapping[str, Mapping[str, object]] | None = None, limit: int | None = None,
    samples: str | Sequence[str] | None = None, seed: int = 42, device: str = "auto", dtype: str = "auto",
    human: Sequence[PathLike] = (), clip_weights: PathLike | None = None, max_cost: float | None = None,
    dry_run: bool = False, on_progress: ProgressCallback | None = None, log: LogCallback | None = None,
) -> ReproduceOutcome:
    """Reproduce one of the paper's tables and write its reproduction page into the site.

    Table 1 runs every method's editor on Real-Edit and judges it with ``--protocol paper``; Table 2 runs
    them on the MagicBrush test set and measures CLIP-I and CLIP-T; Table 3 averages the human ratings given
    per method (and holds the paper-protocol judgments of their runs against them). A finished run resumes,
    so a rerun makes and judges only what is left. Methods without an editor stay published rows.

    Args:
        table: ``table1``, ``table2`` or ``table3``.
        runs: The folder of run directories (each method's run, and ``reproduction-<table>.json``).
        out: The site folder (``realedit report --out``).
        data_dir: The benchmark's data folder (Real-Edit; MagicBrush for Table 2).
        judge: Table 1's judge (default the authors' snapshot, ``openai/gpt-4o-2024-05-13``).
        models: Only these editors (default every editor of the table).
        weights: Editor -> its weights (a hub id or a local folder), for editors without default weights.
        settings: Editor -> its settings (``-M``), e.g. ``{"instruct-pix2pix": {"steps": 20}}`` (recorded).
        limit: Only the first N samples (a subset: not comparable with the paper's numbers).
        samples: Only these sample ids.
        seed: Base seed of the runs (default 42, the seed of the authors' one generator).
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        dtype: ``auto``, ``fp32``, ``fp16`` or ``bf16``.
        human: Table 3: human ratings files (the format of ``agree``).
        clip_weights: Table 2: local CLIP weights.
        max_cost: Table 1: USD the judge may spend on each method's run.
        dry_run: Say what would run, the GPU time it would take and what the judge would cost; run nothing.
        on_progress: Called as each run, judging and measurement goes.
        log: Receives what each step says as it goes.

    Returns:
        Each method's fate, the record and the page; exit code 1 when a method with an editor could not be
        reproduced (what is missing is listed), 2 when the judge stopped on a key, quota or budget.
    """
    from realedit_bench import reproduce as rp

    say = log or _quiet
    options = rp.ReproduceOptions(
        table=rp.check_table(table), runs=Path(runs), out=Path(out), data_dir=_path(data_dir), judge=judge,
        models=list(models), weights=dict(weights or {}), settings=dict(settings or {}), limit=limit,
        samples=samples, seed=seed, device=device, dtype=dtype, human=[Path(h) for h in human],
        clip_weights=_path(clip_weights), max_cost=max_cost, dry_run=dry_run)
    plan = rp.plan_table(options, say)
    if dry_run:
        return ReproduceOutcome(table=table, plan=rp.describe_plan(plan))
    rp.check_ready(plan, options, say)
    notes: list[str] = []
    try:
        records = (rp.human_records(plan, options) if table == "table3"
                   else [rp.reproduce_method(m, plan, options, say, on_progress) for m in plan.methods])
    except rp.Stopped as stop:
        return ReproduceOutcome(table=table, exit_code=stop.code, error=str(stop) or None)
    if table == "table3":
        notes += [n for n in [rp.agree_table3(options, records, say)] if n]
    record = rp.write_record(options, plan, records, notes)
    build_report(options.runs, out=options.out)
    failed = any(r.adapter and r.status in ("missing", "failed") for r in records)
    return ReproduceOutcome(
        table=table, exit_code=EXIT_SOME_FAILED if failed else 0, record=record,
        page=options.out / f"reproduce-{table}.html",
        methods=[(r.method, r.status, r.missing) for r in records])


# -------------------------------------------------------------------------------------------- data

#: Where ``fetch_data`` downloads Real-Edit from.
SOURCES = ("github", "hf")
#: ``fetch_data``'s name for the authors' judge prompts (``realedit judge --protocol paper``).
PAPER_PROMPTS = "paper-prompts"


def fetch_data(
    benchmark: str = "real-edit",
    *,
    data_dir: PathLike | None = None,
    from_dir: PathLike | None = None,
    source: str = "github",
    repair: bool = False,
    wait_for_lock: bool = False,
    on_progress: ProgressCallback | None = None,
) -> FetchOutcome:
    """Download (or import) benchmark data and verify every file's sha256.

    Resumable: files already present and correct are kept; a partial download continues where it stopped.
    Files the user changed are never replaced without ``repair``. Ctrl-C stops at once (exit code 130).

    Args:
        benchmark: ``real-edit``, ``magicbrush``, or ``paper-prompts``: the authors' judge prompts, read
            from their scripts at a pinned commit and cached in ``<cache root>/data/paper-prompts``.
        data_dir: Where to put the data (default ``$REALEDIT_DATA_DIR``, else the cache).
        from_dir: Import from a local copy instead of downloading (Real-Edit: a folder holding the
            instruction JSON and its image folder; MagicBrush: the test zip or its unzipped folder;
            paper-prompts: the authors' ``gpt_eval/eval_*.py`` files or the six prompt ``.txt`` files).
        source: ``github`` (the public copy at a pinned commit) or ``hf`` (the gated dataset; needs
            ``HF_TOKEN``). Ignored with ``from_dir`` and for MagicBrush.
        repair: Replace files that differ from the release, each kept as ``<name>.orig``.
        wait_for_lock: Wait for another fetch writing the same folder to end (else that is an error).
        on_progress: Called with (files or samples done, total or None) as the work goes.

    Returns:
        Where the data is ready and what was written; the warnings about it.
    """
    from realedit_bench.registry import BENCHMARKS
    from realedit_bench.settings import check_out_dir, resolve_data_dir

    if source not in SOURCES:  # checked even where it is ignored: a typo should not pass silently
        raise ConfigError(f"--source must be {' or '.join(SOURCES)}, got {source!r}")
    if benchmark == PAPER_PROMPTS:
        return _fetch_paper_prompts(_path(data_dir), _path(from_dir), wait_for_lock, on_progress)
    bench = BENCHMARKS.get(benchmark)()
    if benchmark != "real-edit" and not hasattr(bench, "fetch"):
        raise ConfigError(f"benchmark {benchmark!r} cannot be fetched by realedit")
    target = resolve_data_dir(_path(data_dir), benchmark)
    if benchmark == "real-edit":
        from realedit_bench.datasets import fetch

        if from_dir is None and source == "github":
            fetch.url_template()  # a bad mirror URL fails before anything is created
        if (target / "test" / "samples.jsonl").is_file():
            raise ConfigError(f"{target} holds MagicBrush data "
                              "(test/samples.jsonl); give Real-Edit its own --data-dir")
    check_out_dir(target, "--data-dir")
    outcome = FetchOutcome(benchmark=benchmark, target=target)
    kept: list[Path] = []
    try:
        how = _How(repair, kept, wait_for_lock, on_progress)
        if benchmark == "real-edit":
            outcome.ready = _fetch_real_edit(target, _path(from_dir), source, how)
        else:
            outcome.ready = _fetch_other(bench, benchmark, target, _path(from_dir), how, outcome.notes)
    except KeyboardInterrupt:
        outcome.exit_code = EXIT_INTERRUPTED
        return outcome
    if kept:
        shown = ", ".join(str(p) for p in kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
        outcome.notes.append(f"--repair: kept the {len(kept)} replaced file(s) as {shown}")
    return outcome


def _fetch_paper_prompts(data_dir: Path | None, from_dir: Path | None, wait_for_lock: bool,
                         on_progress: ProgressCallback | None) -> FetchOutcome:
    """Download (or import) the authors' three judge scripts, read their prompts and cache them."""
    from realedit_bench.judges import paper_prompts as pp
    from realedit_bench.settings import check_out_dir

    dest = pp.cache_dir()
    if data_dir is not None:
        raise ConfigError(f"--data-dir does not apply to {PAPER_PROMPTS}: they are kept in {dest} "
                          "($REALEDIT_CACHE moves it)")
    check_out_dir(dest, "the prompt cache")
    outcome = FetchOutcome(benchmark=PAPER_PROMPTS, target=dest)
    try:
        if from_dir is not None:
            got = pp.import_prompts(from_dir, dest, wait_for_lock=wait_for_lock)
        else:
            advance = _counter(on_progress or _no_progress, len(pp.SCRIPTS))
            got = pp.download_prompts(dest, wait_for_lock=wait_for_lock, progress=lambda _file: advance(1))
    except KeyboardInterrupt:
        outcome.exit_code = EXIT_INTERRUPTED
        return outcome
    s = got.source
    how = "downloaded" if s.obtained == "downloaded" else f"{s.obtained} from {s.origin}"
    outcome.ready = (f"the authors' judge prompts ready in {dest}: {len(s.prompts)} prompts of "
                     f"{s.repository} at {s.commit[:7]} ({s.license}), {how}, each sha256-verified")
    return outcome


class _How(NamedTuple):
    """How a fetch writes: ``repair``, where replaced files are noted, whether to wait for the lock, and
    the progress callback."""

    repair: bool
    kept: list[Path]
    wait_for_lock: bool
    on_progress: ProgressCallback | None


def _fetch_real_edit(target: Path, from_dir: Path | None, source: str, how: _How) -> str:
    """Real-Edit from the hub, a local copy or the pinned GitHub copy; the closing line."""
    from realedit_bench.datasets import fetch

    if from_dir is None and source == "hf":
        report_phase(how.on_progress, f"downloading {fetch.HF_DATASET} from the Hugging Face hub")
        n = fetch.fetch_from_hub(target, os.environ.get("HF_TOKEN"), repair=how.repair, kept=how.kept,
                                 wait_for_lock=how.wait_for_lock)
    else:
        # Files found already done count too, so a resumed fetch starts where it stopped.
        advance = _counter(how.on_progress or _no_progress, len(fetch.read_manifest()))

        def tick(_path: str) -> None:
            advance(1)

        if from_dir is not None:
            n = fetch.import_real_edit(from_dir, target, progress=tick, repair=how.repair, kept=how.kept,
                                       wait_for_lock=how.wait_for_lock)
        else:
            n = fetch.fetch_real_edit(target, progress=tick, repair=how.repair, kept=how.kept,
                                      wait_for_lock=how.wait_for_lock)
    report = fetch.verify_real_edit(target, decode=False)
    return f"Real-Edit ready in {target}: {n} files written, {report.files_checked} verified by sha256"


def _fetch_other(
    bench: Any, benchmark: str, target: Path, from_dir: Path | None, how: _How, notes: list[str],
) -> str:
    """Another benchmark through its own ``fetch``; warnings about missing captions go to ``notes``."""
    import inspect

    progress = how.on_progress or _no_progress
    progress(0, None)
    extra = {"repair": how.repair, "progress": progress, "kept": how.kept, "wait_for_lock": how.wait_for_lock}
    accepted = inspect.signature(bench.fetch).parameters
    loaded = bench.fetch(target, from_dir=from_dir, **{k: v for k, v in extra.items() if k in accepted})
    samples = loaded.samples
    if samples and "caption" in samples[0].extra:
        # Captions feed CLIP-T (local) and directional CLIP (global); a sample without one is skipped there.
        n = len(samples)
        no_local = sum(1 for s in samples if not s.extra.get("caption"))
        no_global = sum(1 for s in samples
                        if not (s.extra.get("input_caption") and s.extra.get("output_caption")))
        if no_local:
            notes.append(f"warning: {no_local} of {n} samples have no local caption: CLIP-T will skip them")
        if no_global:
            notes.append(f"warning: {no_global} of {n} samples have no global captions: directional CLIP "
                         f"will skip them")
    return f"{benchmark} ready in {target}: {len(samples)} samples"


def verify_data(
    benchmark: str = "real-edit", *, data_dir: PathLike | None = None, check_hashes: bool = True,
    follow_symlinks: bool = False,
) -> VerifyOutcome:
    """Check that the data parses, matches the released hashes and that every image decodes safely.

    MagicBrush (no public hashes: its test split is not redistributed) is checked for a parsable
    ``samples.jsonl`` and for every source, target and mask image existing and decoding.

    Args:
        benchmark: ``real-edit`` or ``magicbrush``.
        data_dir: The data folder (default ``$REALEDIT_DATA_DIR``, else the cache).
        check_hashes: Check every file's sha256 (off for a modified or custom data set).
        follow_symlinks: Accept images that symlinks lead outside the data folder.

    Returns:
        What was checked. Problems are raised as DataError.
    """
    from realedit_bench.datasets import fetch
    from realedit_bench.inputs import load_benchmark
    from realedit_bench.registry import BENCHMARKS
    from realedit_bench.settings import resolve_data_dir

    bench = BENCHMARKS.get(benchmark)()
    target = resolve_data_dir(_path(data_dir), benchmark)
    if benchmark == "real-edit":
        report = fetch.verify_real_edit(target, check_hashes=check_hashes, follow_symlinks=follow_symlinks)
        return VerifyOutcome(line=f"ok: {target}: {report.files_checked} files match the sha256 manifest, "
                                  f"{report.images_decoded} images decode within the pixel cap")
    if not hasattr(bench, "verify"):
        raise ConfigError(f"benchmark {benchmark!r} has no verify step")
    load_benchmark(benchmark, target, follow_symlinks=follow_symlinks)  # every image a file in the folder
    images = bench.verify(target)
    return VerifyOutcome(line=f"ok: {target}: {benchmark} samples parse and all {images} images decode "
                              f"within the pixel cap")


def data_info(benchmark: str = "real-edit", *, data_dir: PathLike | None = None) -> DataInfo:
    """Describe the data: where it is, how many samples per category, its content hash.

    Args:
        benchmark: Benchmark name.
        data_dir: The data folder (default ``$REALEDIT_DATA_DIR``, else the cache).

    Returns:
        The counts per category, the number of source images and the instructions' sha256.
    """
    from collections import Counter

    from realedit_bench.inputs import load_benchmark
    from realedit_bench.registry import BENCHMARKS

    bench = load_benchmark(benchmark, _path(data_dir), follow_symlinks=True)  # reads no image
    return DataInfo(
        name=bench.name, data_dir=bench.data_dir, counts=dict(Counter(s.category for s in bench.samples)),
        unit=getattr(BENCHMARKS.get(benchmark), "image_unit", "photos"),  # MagicBrush counts sessions
        n_images=len({s.image_id for s in bench.samples}), content_sha256=bench.content_sha256,
    )


# ------------------------------------------------------------------------------------------ models

#: Constructor argument -> class attribute holding its default, where the names differ.


def list_models() -> ModelList:
    """The editing models realedit knows: name, family, default weights, steps, guidance, resolution, licence.

    A model whose optional dependency is missing is listed with the reason it is unavailable.
    """
    from realedit_bench.editing import describe
    from realedit_bench.registry import ADAPTERS

    rows = []
    for name in ADAPTERS.names():
        try:
            d = describe(ADAPTERS.get(name))
        except ImportError as exc:
            rows.append({"name": name, "family": f"(unavailable: {exc})"})
            continue
        shown = {k: str(d[k]) if d[k] is not None else "-"
                 for k in ("steps", "text_guidance", "image_guidance", "resolution")}
        rows.append({"name": name, "family": d["family"], "weights": str(d["weights"]),
                     "steps": shown["steps"], "text guid.": shown["text_guidance"],
                     "image guid.": shown["image_guidance"], "resolution": shown["resolution"],
                     "licence": d["license"]})
    return ModelList(rows=rows)


def model_settings(name: str) -> ModelSettings:
    """The settings of editor ``name`` (``settings`` of :func:`run_model`, ``-M key=value``) and defaults.

    A subclass's settings come with its base's (``DiffusersEditor``'s); a default of None is shown as the
    class's documented default where it has one. What each setting means comes from the ``Args:`` of the
    editor's docstrings (a subclass documents the settings it adds).
    """
    import inspect

    from realedit_bench.editing import class_default, setting_help, settings
    from realedit_bench.registry import ADAPTERS

    cls = ADAPTERS.get(name)
    rows = []
    for s in settings(cls):
        default = s.default if s.default is not None else class_default(cls, s.name)
        rows.append((s.name, "required" if default is inspect.Parameter.empty else repr(default)))
    return ModelSettings(name=name, rows=rows, help=setting_help(cls))


def convert_weights(
    model: str, source: PathLike, dest: PathLike, *, progress: bool = False
) -> ConvertOutcome:
    """Convert released weights of ``model`` once into the compact, pickle-free files its editor loads.

    Args:
        model: An editor whose weights need converting (``smartedit``, ``hive``; any registered editor
            with a ``convert_weights`` classmethod).
        source: The released weights (a SmartEdit release folder, a HIVE ``.ckpt``).
        dest: Where the conversion goes; a finished conversion of the same source there is kept as it is.
        progress: Show a progress bar on stderr (SmartEdit).

    Returns:
        Where the conversion is and whether this call wrote it.

    Raises:
        ConfigError: the model has no weights to convert.
        WeightsError: the source cannot be read or converted.
    """
    from realedit_bench.registry import ADAPTERS

    convert = getattr(ADAPTERS.get(model), "convert_weights", None)
    if convert is None:
        raise ConfigError(f"model {model!r} loads its weights as released; there is nothing to convert")
    done = convert(Path(source), Path(dest), progress=progress)
    return ConvertOutcome(model=model, source=Path(source), target=Path(done.path), converted=done.converted)
