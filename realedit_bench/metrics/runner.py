"""Compute metrics over a set of edits: batched, resumable, merged per metric, then a summary.

``metrics.jsonl`` holds one :class:`~realedit_bench.schema.metrics.MetricRow` per sample with every
metric measured so far on its edited image. A value is reused when the row was measured on the same
edited image and reference (sha256) with the same metric model (id, revision, weights sha256); only
the asked metrics that are not reusable are computed, and their values are merged into the row. Merged
rows are appended and fsynced as each batch finishes (a crash loses at most one batch), then the file
is rewritten atomically with the newest row of each sample, so it never grows with duplicates; a
reader meeting two rows of a sample (an interrupted run) takes the last. ``metrics_summary.json``
(:class:`~realedit_bench.schema.metrics.MetricSummary`) covers every metric with values, with
cluster-bootstrap intervals over source photos and the model behind each metric.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, cast

from PIL import Image

from realedit_bench import __version__
from realedit_bench.datasets import LoadedBenchmark
from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.images import load_image, sha256_file
from realedit_bench.inputs import EditedItem, EditSet
from realedit_bench.jsonio import JsonlAppender, atomic_write_json, atomic_write_text, read_rows
from realedit_bench.metrics import DEFAULT_ORDER
from realedit_bench.metrics.core import FeatureStore, Item, Metric, label_for
from realedit_bench.provenance import utc_now
from realedit_bench.registry import METRICS
from realedit_bench.schema.metrics import REFERENCES, MetricRow, MetricSummary, Reference
from realedit_bench.stats.bootstrap import cluster_mean_ci

ROWS_FILE = "metrics.jsonl"
SUMMARY_FILE = "metrics_summary.json"
#: Held by the process writing the two files above (one writer per folder).
LOCK_NAME = ".realedit-metrics.lock"


class MetricsResult(NamedTuple):
    """What a metrics computation did."""

    summary: MetricSummary
    rows_path: Path
    summary_path: Path
    measured: int
    skipped: int


def benchmark_reference(name: str) -> Reference:
    """``source`` or ``target``: what the benchmark's edits are compared with.

    Raises:
        ConfigError: a (plug-in) benchmark declares another reference.
    """
    from realedit_bench.registry import BENCHMARKS

    ref = str(getattr(BENCHMARKS.get(name), "reference", "source"))
    if ref not in REFERENCES:
        raise ConfigError(f"benchmark {name!r} has reference {ref!r}; it must be "
                          f"one of {', '.join(REFERENCES)}")
    return cast(Reference, ref)  # checked just above


def choose_metrics(names: Sequence[str] | None, bench: LoadedBenchmark) -> list[Metric]:
    """Instantiate the asked metrics, or every built-in one the benchmark's samples support.

    Raises:
        UnknownNameError: a name is not registered (with "did you mean").
        ConfigError: an asked metric needs captions that no sample of the benchmark has.
    """
    def has_captions(metric: Metric) -> bool:
        return any(
            all(isinstance(s.extra.get(k), str) and s.extra.get(k, "").strip() for k in metric.captions)
            for s in bench.samples
        )

    if names:
        wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
        metrics = [METRICS.get(n)() for n in wanted]
        for m in metrics:
            if m.captions and not has_captions(m):
                raise ConfigError(
                    f"metric {m.name!r} needs captions ({', '.join(m.captions)}) and benchmark "
                    f"{bench.name!r} has none; drop it (e.g. --metric clip_i --metric dino)"
                )
        return metrics
    metrics = [METRICS.get(n)() for n in DEFAULT_ORDER]
    return [m for m in metrics if not m.captions or has_captions(m)]


def _fingerprint(ref: dict[str, Any] | None) -> tuple | None:
    """What must match for a value to be reused: the weights' identity, not where they lie on disk."""
    return (ref.get("id"), ref.get("revision"), ref.get("sha256")) if ref else None


def _model_of(row: MetricRow, name: str) -> dict[str, Any] | None:
    """The model identity recorded for metric ``name`` in ``row`` (None for pixel metrics)."""
    return row.metric_models.get(name)


def _definition_of(model: dict[str, Any] | None) -> int:
    """The formula version a value was computed with; only revised formulas (2 and up) record theirs."""
    return int((model or {}).get("definition", 1))


def outdated_metrics(row: MetricRow) -> list[str]:
    """Metrics of ``row`` whose values were computed with another formula than the installed metric's.

    Such a value is never kept or averaged: it measures something else under the same name (directional
    CLIP before definition 2 subtracted unnormalised embeddings). Metrics no longer installed are left to
    :func:`summarize`, which names them.
    """
    out = []
    for name in dict.fromkeys([*row.metrics, *row.values]):
        try:
            m = METRICS.get(name)
        except RealEditError:
            continue
        if _definition_of(_model_of(row, name)) != m.definition:
            out.append(name)
    return out


def old_formula_reason(name: str) -> str:
    """Why a metric with values of an older formula is left out of a summary (the report reads it too)."""
    return f"measured with an older formula; rerun with --metric {name}"


def _without(row: MetricRow, names: Sequence[str]) -> MetricRow:
    """``row`` with the values (and records) of metrics ``names`` removed."""
    drop = set(names)
    return row.model_copy(update={
        "values": {k: v for k, v in row.values.items() if k not in drop},
        "metrics": [n for n in row.metrics if n not in drop],
        "metric_models": {k: v for k, v in row.metric_models.items() if k not in drop},
    })


class _Loaded(NamedTuple):
    entry: EditedItem
    item: Item | None
    error: str | None
    edited_sha: str | None
    reference_sha: str | None


class _ImageCache:
    """Decoded reference images by content key; the 7 edits of a Real-Edit photo share one decode."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[str, Image.Image] = OrderedDict()
        self._sha: dict[Path, str] = {}

    def sha(self, path: Path) -> str:
        # Hashing is per run only; the embedding cache itself is keyed on this content hash.
        if path not in self._sha:
            self._sha[path] = sha256_file(path)
        return self._sha[path]

    def get(self, path: Path) -> tuple[str, Image.Image]:
        key = self.sha(path)
        if key in self._items:
            self._items.move_to_end(key)
            return key, self._items[key]
        image = load_image(path)
        self._items[key] = image
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return key, image


def _sha_or_none(cache: _ImageCache, path: Path) -> str | None:
    try:
        return cache.sha(path)
    except OSError:  # unreadable now: measured again, and the row will say why
        return None


def _load(entry: EditedItem, reference: Reference, cache: _ImageCache) -> _Loaded:
    sample = entry.sample
    try:
        edited_sha = cache.sha(entry.edited)
    except OSError as exc:
        return _Loaded(entry, None, f"edited image unreadable: {exc}", None, None)
    try:
        ref_path = sample.target if reference == "target" else sample.image
        if ref_path is None:
            return _Loaded(entry, None, "the benchmark has no target image for this sample", edited_sha, None)
        ref_key, ref_image = cache.get(Path(ref_path))
        src_key, src_image = (ref_key, ref_image) if reference != "target" else cache.get(Path(sample.image))
        edited = load_image(entry.edited)
    except RealEditError as exc:
        return _Loaded(entry, None, str(exc), edited_sha, None)
    item = Item(sample.sample_id, edited, edited_sha, ref_image, ref_key, src_image, src_key,
                dict(sample.extra))
    return _Loaded(entry, item, None, edited_sha, ref_key)


class _Stored:
    """The newest row of each sample in ``metrics.jsonl``, and whether the file must be rewritten."""

    def __init__(self, path: Path) -> None:
        rows = read_rows(path, MetricRow)
        self.latest: dict[str, MetricRow] = {r.sample_id: r for r in rows}
        # More than one row per sample only survives an interrupted run: rewrite with one each.
        self.compact = len(rows) != len(self.latest)

    def put(self, row: MetricRow) -> None:
        """``row`` supersedes the sample's earlier row (the file is rewritten at the end)."""
        self.compact = self.compact or row.sample_id in self.latest
        self.latest[row.sample_id] = row

    def rewrite(self, path: Path) -> None:
        """One row per sample: the merged rows supersede the older ones, replaced in one atomic rename."""
        lines = (json.dumps(r.model_dump(mode="json"), ensure_ascii=False, sort_keys=True) + "\n"
                 for r in self.latest.values())
        atomic_write_text(path, "".join(lines))


#: One sample to measure: its edit, the row whose values may be kept, and the metrics to compute.
_Todo = tuple[EditedItem, MetricRow | None, list[Metric]]


def compute_metrics(
    edits: EditSet,
    metrics: Sequence[Metric],
    encoders: dict[str, Any],
    *,
    out_dir: Path | None = None,
    batch_size: int = 32,
    n_resamples: int = 2000,
    seed: int = 0,
    command: Sequence[str] = (),
    on_progress: Callable[[int], None] | None = None,
) -> MetricsResult:
    """Measure every edited image of ``edits`` and write ``metrics.jsonl`` and ``metrics_summary.json``.

    Args:
        edits: Resolved edits (``realedit_bench.inputs.resolve_edits``).
        metrics: Metric instances (``choose_metrics``).
        encoders: Loaded encoders by name (``"clip"``, ``"dino"``) covering every metric's ``encoder``.
        out_dir: Where the two files go; the run directory or folder itself by default.
        batch_size: Items per model forward (each item contributes its edited and reference image).
        n_resamples: Bootstrap resamples for the intervals.
        seed: Bootstrap seed.
        command: The command line, recorded in the summary.
        on_progress: Called with the number of samples just finished (measured or skipped).

    Returns:
        What was written and how many samples were measured or reused.
    """
    if batch_size < 1:
        raise ConfigError("--batch-size must be >= 1")
    missing_enc = sorted({m.encoder for m in metrics if m.encoder and m.encoder not in encoders})
    if missing_enc:
        raise ValueError(f"encoders not loaded: {missing_enc}")
    reference = benchmark_reference(edits.benchmark.name)
    out = Path(out_dir) if out_dir is not None else edits.root
    rows_path = out / ROWS_FILE
    refs = {k: getattr(e, "ref", {}) for k, e in encoders.items() if any(m.encoder == k for m in metrics)}
    stored = _Stored(rows_path)
    cache = _ImageCache()
    todo, skipped = _plan(edits, metrics, refs, reference, cache, stored)
    if on_progress and skipped:
        on_progress(skipped)
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    _measure(batches, reference, refs, FeatureStore(encoders), cache, stored, rows_path, on_progress)
    if stored.compact:
        stored.rewrite(rows_path)
    current = [stored.latest[e.sample.sample_id] for e in edits.items if e.sample.sample_id in stored.latest]
    summary = summarize(
        current, [m.name for m in metrics], reference=reference, run_id=edits.run_id, model=edits.model,
        benchmark=edits.benchmark.name, n_missing=edits.n_missing, n_resamples=n_resamples, seed=seed,
        command=command,
    )
    summary_path = out / SUMMARY_FILE
    atomic_write_json(summary_path, summary)
    return MetricsResult(summary, rows_path, summary_path, len(todo), skipped)


def _still_valid(row: MetricRow | None, m: Metric, refs: dict[str, dict[str, Any]]) -> bool:
    """Whether ``row`` holds a value of ``m`` by the current formula and, for a model metric, by the same
    model."""
    if row is None or m.name not in row.metrics:
        return False
    model = _model_of(row, m.name)
    if _definition_of(model) != m.definition:
        return False
    return m.encoder is None or _fingerprint(model) == _fingerprint(refs[m.encoder])


def _plan(
    edits: EditSet,
    metrics: Sequence[Metric],
    refs: dict[str, dict[str, Any]],
    reference: Reference,
    cache: _ImageCache,
    stored: _Stored,
) -> tuple[list[_Todo], int]:
    """Per sample, only the asked metrics not already measured on this very image, reference and model;
    and how many samples need nothing."""
    todo: list[_Todo] = []
    skipped = 0
    for entry in edits.items:
        base = _reusable(stored.latest.get(entry.sample.sample_id), entry, reference, cache)
        need = [m for m in metrics if not _still_valid(base, m, refs)]
        if need:
            todo.append((entry, base, need))
            continue
        skipped += 1
        old = outdated_metrics(base) if base is not None else []
        if base is not None and old:
            # Not asked this time, but values of an older formula are not kept either: dropped now.
            stored.latest[entry.sample.sample_id] = _without(base, old)
            stored.compact = True
    return todo, skipped


def _measure(
    batches: list[list[_Todo]],
    reference: Reference,
    refs: dict[str, dict[str, Any]],
    store: FeatureStore,
    cache: _ImageCache,
    stored: _Stored,
    rows_path: Path,
    on_progress: Callable[[int], None] | None,
) -> None:
    """Measure batch by batch, appending each merged row durably as its batch finishes.

    Decoding and hashing the next batch overlaps the model forward of the current one.
    """
    def load_batch(batch: list[_Todo]) -> list[_Loaded]:
        return [_load(e, reference, cache) for e, _, _ in batch]

    with JsonlAppender(rows_path) as appender, ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load_batch, batches[0]) if batches else None
        for i, batch in enumerate(batches):
            assert pending is not None
            loaded = pending.result()
            pending = pool.submit(load_batch, batches[i + 1]) if i + 1 < len(batches) else None
            work = [(ld.item, need) for ld, (_, _, need) in zip(loaded, batch, strict=True)
                    if ld.item is not None]
            _embed(store, work)
            for ld, (_, base, need) in zip(loaded, batch, strict=True):
                row = _merged_row(ld, base, need, reference, refs, store)
                appender.append(row)  # durable now; the final rewrite only drops superseded rows
                stored.put(row)
            store.forget([it.edited_key for it, _ in work])
            if on_progress:
                on_progress(len(loaded))


def _embed(store: FeatureStore, work: list[tuple[Item, list[Metric]]]) -> None:
    """Embed, in one forward per encoder, every image and caption the batch's metrics need."""
    for enc in sorted({m.encoder for _, need in work for m in need if m.encoder}):
        wanted = [kv for it, need in work for m in need if m.encoder == enc and m.applies(it)
                  for kv in m.images(it)]
        store.fill_images(enc, wanted)
    texts = [t for it, need in work for m in need if m.applies(it) for t in m.texts(it)]
    if texts:
        store.fill_texts(texts)


def _reusable(
    row: MetricRow | None, entry: EditedItem, reference: Reference, cache: _ImageCache
) -> MetricRow | None:
    """``row`` when its values still describe this edited image and reference (by content), else None."""
    if row is None or row.status != "ok" or row.reference != reference or row.image_sha256 is None:
        return None
    ref_path = entry.sample.target if reference == "target" else entry.sample.image
    if ref_path is None:
        return None
    if row.image_sha256 != _sha_or_none(cache, entry.edited):
        return None
    if row.reference_sha256 != _sha_or_none(cache, Path(ref_path)):
        return None
    return row


def _merged_row(
    ld: _Loaded,
    base: MetricRow | None,
    need: Sequence[Metric],
    reference: Reference,
    refs: dict[str, dict[str, Any]],
    store: FeatureStore,
) -> MetricRow:
    """The sample's row: ``base``'s still-valid values plus the metrics just measured."""
    s = ld.entry.sample
    asked = [m.name for m in need]
    values: dict[str, float] = {}
    models: dict[str, dict[str, Any]] = {}
    kept: list[str] = []
    # An unreadable image keeps nothing: earlier values of it no longer describe what is on disk.
    if ld.item is not None:
        if base is not None:
            # Values of an older formula of a metric not asked now are dropped, not carried along.
            old = set(outdated_metrics(base))
            kept = [n for n in base.metrics if n not in asked and n not in old]
            values = {k: v for k, v in base.values.items() if k in kept}
            models = {n: base.metric_models[n] for n in kept if base.metric_models.get(n)}
        for m in need:
            if m.encoder or m.definition > 1:
                models[m.name] = {**(refs[m.encoder] if m.encoder else {}),
                                  **({"definition": m.definition} if m.definition > 1 else {})}
            if not m.applies(ld.item):
                continue
            v = m(ld.item, store)
            # An undefined value (e.g. directional CLIP of an unchanged image: a zero vector) is left out
            # rather than written as NaN, so it neither breaks JSON nor poisons means.
            if math.isfinite(v):
                values[m.name] = v
    return MetricRow(
        sample_id=s.sample_id, image_id=s.image_id, category=s.category, reference=reference,
        status="ok" if ld.item is not None else "error", values=values,
        error=ld.error if ld.item is None else None,
        image_sha256=ld.edited_sha, reference_sha256=ld.reference_sha, metrics=[*kept, *asked],
        metric_models=models, finished_at=utc_now(),
    )


@dataclass
class _Parts:
    """The per-metric fields of a summary, filled one metric at a time."""

    labels: dict[str, str] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    means: dict[str, float] = field(default_factory=dict)
    cis: dict[str, tuple[float, float]] = field(default_factory=dict)
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    metric_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)


def summarize(
    rows: Sequence[MetricRow],
    asked: Sequence[str] = (),
    *,
    reference: Reference,
    run_id: str,
    model: str,
    benchmark: str,
    n_missing: int = 0,
    n_resamples: int = 2000,
    seed: int = 0,
    command: Sequence[str] = (),
) -> MetricSummary:
    """Means over ok rows with 95% intervals from resampling source photos (``image_id``).

    Covers every metric measured in ``rows`` (not only the ``asked`` ones, which come first), so
    computing a subset of the metrics never hides the others. A metric whose values come from more than
    one model version (an interrupted run with other weights) is listed in ``excluded``, not averaged.
    """
    ok = [r for r in rows if r.status == "ok"]
    measured = [*asked, *(n for r in ok for n in (*r.metrics, *r.values))]
    order = {n: i for i, n in enumerate(DEFAULT_ORDER)}
    in_order = sorted(dict.fromkeys(measured), key=lambda n: (order.get(n, len(order)), n))
    names = dict.fromkeys([*asked, *in_order])
    parts = _Parts()
    for name in names:
        _summarize_metric(parts, name, ok, reference, n_resamples, seed)
    return MetricSummary(
        run_id=run_id,
        model=model,
        benchmark=benchmark,
        reference=reference,
        n=len(rows),
        n_error=sum(1 for r in rows if r.status == "error"),
        n_missing=n_missing,
        **asdict(parts),
        bootstrap={"resamples": n_resamples, "level": 0.95, "seed": seed, "unit": "source photo (image_id)"},
        created_at=utc_now(),
        realedit_version=__version__,
        command=list(command),
    )


def _summarize_metric(
    parts: _Parts, name: str, ok: Sequence[MetricRow], reference: Reference, n_resamples: int, seed: int
) -> None:
    """Add metric ``name``'s label, count, mean, interval and per-category means (or why it is left out)."""
    try:
        m = METRICS.get(name)()
    except RealEditError:
        parts.excluded[name] = "metric no longer installed"
        return
    parts.labels[name], parts.higher_is_better[name] = label_for(m, reference), m.higher_is_better
    have = [r for r in ok if name in r.values]
    parts.counts[name] = len(have)
    why = _why_excluded(m, have)
    if why is not None:
        parts.excluded[name] = why
        return
    model_ref = _model_of(have[-1], name) if have else None
    if model_ref:  # the model and, for a revised formula, its definition number (the report checks it)
        parts.metric_models[name] = model_ref
    values = [r.values[name] for r in have]
    ci = cluster_mean_ci(values, [r.image_id for r in have], n_resamples=n_resamples, seed=seed)
    if ci is not None:
        parts.means[name] = ci.estimate
        if ci.bounds is not None:
            parts.cis[name] = ci.bounds
    for cat in dict.fromkeys(r.category for r in have):
        vals = [r.values[name] for r in have if r.category == cat]
        parts.per_category.setdefault(cat, {})[name] = sum(vals) / len(vals)


def _why_excluded(m: Metric, have: Sequence[MetricRow]) -> str | None:
    """Why the values of ``m`` in ``have`` cannot be averaged into one mean, or None when they can."""
    if any(_definition_of(_model_of(r, m.name)) != m.definition for r in have):
        # Another formula under the same name: such values are not averaged, alone or mixed with new ones.
        return old_formula_reason(m.name)
    if m.encoder and have:
        by_fp = {_fingerprint(_model_of(r, m.name)) for r in have}
        if len(by_fp) > 1:
            # No single model stands behind these values: a mean of them would name no model.
            return (f"values from {len(by_fp)} different {m.encoder} models (an interrupted run?); "
                    f"rerun with --metric {m.name}")
    return None


#: Headings of the notes on the inputs of a metrics call (the command line shows them highlighted).
MISSING_NOTE = "missing edits (not measured):"
UNMATCHED_NOTE = "files matching no sample id (ignored):"


def input_notes(edits: EditSet) -> list[str]:
    """Edits that are missing and files that match no sample: a misnamed file is the usual reason an edit
    seems to be missing."""
    notes = []
    if edits.n_missing:
        notes.append(f"{MISSING_NOTE} {edits.describe_missing()}")
    if edits.unmatched:
        more = f" ... ({len(edits.unmatched)} in all)" if len(edits.unmatched) > 20 else ""
        notes.append(f"{UNMATCHED_NOTE} {', '.join(edits.unmatched[:20])}{more}")
    return notes


def failed_samples(rows_path: Path) -> list[tuple[str, str]]:
    """(sample id, error) of the samples whose newest row in ``rows_path`` is an error."""
    latest = {r.sample_id: r for r in read_rows(rows_path, MetricRow)}
    return [(r.sample_id, r.error or "") for r in latest.values() if r.status == "error"]
