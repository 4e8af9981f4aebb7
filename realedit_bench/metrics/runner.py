"""Compute metrics over a set of edits: batched, resumable, one fsynced row per sample, then a summary.

``metrics.jsonl`` holds one :class:`~realedit_bench.schema.metrics.MetricRow` per measured sample
(appended and fsynced as each batch finishes); ``metrics_summary.json`` holds the
:class:`~realedit_bench.schema.metrics.MetricSummary` (means with cluster-bootstrap intervals over
source photos). A rerun skips samples whose last row is ok for the same edited image (sha256), the
same metrics and the same metric weights; anything else is measured again and the newest row wins.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, cast

from PIL import Image

from realedit_bench import __version__
from realedit_bench.dataset import LoadedBenchmark
from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.images import load_image, sha256_file
from realedit_bench.inputs import EditedItem, EditSet
from realedit_bench.jsonio import JsonlAppender, atomic_write_json, read_rows
from realedit_bench.metrics import DEFAULT_ORDER, METRICS
from realedit_bench.metrics.core import FeatureStore, Item, Metric, label_for
from realedit_bench.provenance import utc_now
from realedit_bench.schema.metrics import REFERENCES, MetricRow, MetricSummary, Reference
from realedit_bench.stats.bootstrap import cluster_mean_ci

ROWS_FILE = "metrics.jsonl"
SUMMARY_FILE = "metrics_summary.json"


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
    from realedit_bench.registries import BENCHMARKS

    ref = str(getattr(BENCHMARKS.get(name), "reference", "source"))
    if ref not in REFERENCES:
        raise ConfigError(f"benchmark {name!r} has reference {ref!r}; it must be one of {', '.join(REFERENCES)}")
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
                    f"metric {m.name!r} needs captions ({', '.join(m.captions)}) and benchmark {bench.name!r} "
                    f"has none; drop it (e.g. --metric clip_i --metric dino)"
                )
        return metrics
    metrics = [METRICS.get(n)() for n in DEFAULT_ORDER]
    return [m for m in metrics if not m.captions or has_captions(m)]


def _fingerprint(refs: dict[str, dict[str, Any]]) -> dict[str, tuple]:
    """What must match for a row to be reused: weights identity, not where they lie on disk."""
    return {k: (v.get("id"), v.get("revision"), v.get("sha256")) for k, v in refs.items()}


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
    item = Item(sample.sample_id, edited, edited_sha, ref_image, ref_key, src_image, src_key, dict(sample.extra))
    return _Loaded(entry, item, None, edited_sha, ref_key)


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
    names = [m.name for m in metrics]
    refs = {k: getattr(e, "ref", {}) for k, e in encoders.items() if any(m.encoder == k for m in metrics)}
    fp = _fingerprint(refs)

    previous: dict[str, MetricRow] = {r.sample_id: r for r in read_rows(rows_path, MetricRow)}
    cache = _ImageCache()
    todo: list[EditedItem] = []
    skipped = 0
    for entry in edits.items:
        row = previous.get(entry.sample.sample_id)
        if (
            row is not None
            and row.status == "ok"
            and row.reference == reference
            and set(names) <= set(row.metrics)
            and _fingerprint(row.metric_models) == fp
            and row.image_sha256 == _sha_or_none(cache, entry.edited)
        ):
            skipped += 1
            continue
        todo.append(entry)
    if on_progress and skipped:
        on_progress(skipped)

    store = FeatureStore(encoders)
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    # Decoding and hashing the next batch overlaps the model forward of the current one.
    with JsonlAppender(rows_path) as appender, ThreadPoolExecutor(max_workers=1) as pool:

        def load_batch(batch: list[EditedItem]) -> list[_Loaded]:
            return [_load(e, reference, cache) for e in batch]

        pending = pool.submit(load_batch, batches[0]) if batches else None
        for i in range(len(batches)):
            assert pending is not None
            loaded = pending.result()
            pending = pool.submit(load_batch, batches[i + 1]) if i + 1 < len(batches) else None
            ok = [ld.item for ld in loaded if ld.item is not None]
            for enc in sorted({m.encoder for m in metrics if m.encoder}):
                wanted = [kv for it in ok for m in metrics if m.encoder == enc and m.applies(it) for kv in m.images(it)]
                store.fill_images(enc, wanted)
            texts = [t for it in ok for m in metrics if m.applies(it) for t in m.texts(it)]
            if texts:
                store.fill_texts(texts)
            for ld in loaded:
                s = ld.entry.sample
                values: dict[str, float] = {}
                if ld.item is not None:
                    values = {m.name: m(ld.item, store) for m in metrics if m.applies(ld.item)}
                    # An undefined value (e.g. directional CLIP of an unchanged image: a zero vector) is
                    # left out rather than written as NaN, so it neither breaks JSON nor poisons means.
                    values = {k: v for k, v in values.items() if math.isfinite(v)}
                row = MetricRow(
                    sample_id=s.sample_id, image_id=s.image_id, category=s.category, reference=reference,
                    status="ok" if ld.item is not None else "error", values=values,
                    error=ld.error if ld.item is None else None,
                    image_sha256=ld.edited_sha, reference_sha256=ld.reference_sha, metrics=names,
                    metric_models=refs, finished_at=utc_now(),
                )
                appender.append(row)
                previous[s.sample_id] = row
            store.forget([it.edited_key for it in ok])
            if on_progress:
                on_progress(len(loaded))

    current = [previous[e.sample.sample_id] for e in edits.items if e.sample.sample_id in previous]
    summary = summarize(
        current, metrics, reference=reference, run_id=edits.run_id, model=edits.model,
        benchmark=edits.benchmark.name, metric_models=refs, n_missing=len(edits.missing),
        n_resamples=n_resamples, seed=seed, command=command,
    )
    summary_path = out / SUMMARY_FILE
    atomic_write_json(summary_path, summary)
    return MetricsResult(summary, rows_path, summary_path, len(todo), skipped)


def summarize(
    rows: Sequence[MetricRow],
    metrics: Sequence[Metric],
    *,
    reference: Reference,
    run_id: str,
    model: str,
    benchmark: str,
    metric_models: dict[str, dict[str, Any]],
    n_missing: int = 0,
    n_resamples: int = 2000,
    seed: int = 0,
    command: Sequence[str] = (),
) -> MetricSummary:
    """Means over ok rows with 95% intervals from resampling source photos (``image_id``)."""
    ok = [r for r in rows if r.status == "ok"]
    means: dict[str, float] = {}
    cis: dict[str, tuple[float, float]] = {}
    counts: dict[str, int] = {}
    per_category: dict[str, dict[str, float]] = {}
    for m in metrics:
        have = [r for r in ok if m.name in r.values]
        counts[m.name] = len(have)
        ci = cluster_mean_ci(
            [r.values[m.name] for r in have], [r.image_id for r in have], n_resamples=n_resamples, seed=seed
        )
        if ci is not None:
            means[m.name] = ci.estimate
            cis[m.name] = (ci.low, ci.high)
        for cat in dict.fromkeys(r.category for r in have):
            vals = [r.values[m.name] for r in have if r.category == cat]
            per_category.setdefault(cat, {})[m.name] = sum(vals) / len(vals)
    return MetricSummary(
        run_id=run_id,
        model=model,
        benchmark=benchmark,
        reference=reference,
        metric_models=metric_models,
        labels={m.name: label_for(m, reference) for m in metrics},
        higher_is_better={m.name: m.higher_is_better for m in metrics},
        n=len(rows),
        n_error=sum(1 for r in rows if r.status == "error"),
        n_missing=n_missing,
        counts=counts,
        means=means,
        cis=cis,
        per_category=per_category,
        bootstrap={"resamples": n_resamples, "level": 0.95, "seed": seed, "unit": "source photo (image_id)"},
        created_at=utc_now(),
        realedit_version=__version__,
        command=list(command),
    )


def load_encoders(
    metrics: Sequence[Metric],
    *,
    clip_weights: Path | None = None,
    clip_model: str | None = None,
    clip_pretrained: str | None = None,
    dino_weights: Path | None = None,
    dino_id: str | None = None,
    dino_revision: str | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Load (once) the encoders the metrics need. Raises WeightsError with one line when unreachable."""
    from realedit_bench.metrics import encoders as enc

    need = {m.encoder for m in metrics if m.encoder}
    # Validate local paths of every needed encoder before loading any (no half-done work).
    if "clip" in need:
        enc.check_clip_weights(clip_weights)
    if "dino" in need:
        enc.check_dino_weights(dino_weights)
    out: dict[str, Any] = {}
    with enc.Quiet():
        if "dino" in need:  # the smaller download first: an unreachable hub is found out sooner
            out["dino"] = enc.DinoEncoder(
                dino_weights,
                model_id=dino_id or enc.DEFAULT_DINO_ID,
                revision=dino_revision or enc.DEFAULT_DINO_REVISION,
                device=device,
            )
        if "clip" in need:
            out["clip"] = enc.ClipEncoder(
                clip_weights,
                model_name=clip_model or enc.DEFAULT_CLIP_MODEL,
                pretrained=clip_pretrained or enc.DEFAULT_CLIP_PRETRAINED,
                device=device,
            )
    return out
