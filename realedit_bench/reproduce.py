"""``realedit reproduce table1|table2|table3``: the paper's tables, method by method, beside our numbers.

Each table is a list of the paper's methods; a method with a realedit editor is reproduced, the others
(KOSMOS-G, MGIE, InstructDiffusion) stay published rows, listed as not reproduced:

* Table 1: every editor is run on Real-Edit (a finished run resumes, so nothing is edited twice) and judged
  with ``--protocol paper`` (the authors' prompts, parser, snapshot, request and images);
* Table 2: every editor is run on the MagicBrush test set (``realedit data fetch --benchmark magicbrush
  --from ...`` first) and measured with CLIP-I and CLIP-T;
* Table 3: the human ratings given (``--human``, the format of ``realedit agree``) are averaged per method,
  and ``realedit agree`` holds the paper-protocol judgments of the same runs against them.

The record, ``<runs>/reproduction-<table>.json``, names the run of each method; ``realedit report`` builds
the reproduction page from it. A dry run (:func:`plan_table`, :func:`describe_plan`) says what would run, for
how long (an estimate from the table :data:`SECONDS_PER_IMAGE`), and what the judge would cost.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.registry import ADAPTERS
from realedit_bench.schema.reproduce import HumanFigure, MethodRecord, MethodStatus, TableName

#: The methods of each table, in the paper's order (leaderboard/reference/ holds their published values).
TABLE_METHODS: dict[str, tuple[str, ...]] = {
    "table1": ("KOSMOS-G", "MagicBrush", "MGIE", "InstructDiffusion", "HIVE", "HQ-Edit", "InsPix2Pix",
               "Reward-InsPix2Pix", "SmartEdit", "Reward-SmartEdit"),
    "table2": ("MagicBrush", "MGIE", "InstructDiffusion", "InsPix2Pix", "Reward-InsPix2Pix", "SmartEdit",
               "Reward-SmartEdit"),
    "table3": ("SmartEdit", "Reward-SmartEdit"),
}
TITLES = {
    "table1": "Table 1: existing methods on Real-Edit, judged by GPT-4o",
    "table2": "Table 2: CLIP-I and CLIP-T on the MagicBrush test set",
    "table3": "Table 3: human evaluation on Real-Edit",
}
BENCHMARKS = {"table1": "real-edit", "table2": "magicbrush", "table3": "real-edit"}
#: The paper's method -> realedit's editor (methods absent here have none).
ADAPTER_OF = {
    "MagicBrush": "magicbrush", "HIVE": "hive", "HQ-Edit": "hq-edit", "InsPix2Pix": "instruct-pix2pix",
    "Reward-InsPix2Pix": "reward-instruct-pix2pix", "SmartEdit": "smartedit",
    "Reward-SmartEdit": "reward-smartedit",
}
#: The seed of the authors' one generator (eval.py); here each sample's seed derives from it.
PAPER_SEED = 42
#: CLIP metrics of Table 2.
TABLE2_METRICS = ("clip_i", "clip_t")


class GpuCost(NamedTuple):
    """Seconds per edited image on one H100 (fp16), and where the number comes from."""

    seconds: float
    basis: str


#: An estimate of the GPU time per image, per editor at its default settings. InstructPix2Pix's rate was
#: measured (about 1 image/s at 20 steps, 512 px, fp16 on one H100), so ~4.8 s at its 100 steps; the
#: others are assumed from their steps at the same rate per step, plus the language model of SmartEdit.
SECONDS_PER_IMAGE: dict[str, GpuCost] = {
    "instruct-pix2pix": GpuCost(4.8, "100 steps at the rate measured at 20 steps"),
    "magicbrush": GpuCost(4.8, "assumed: InstructPix2Pix's pipeline and 100 steps"),
    "hq-edit": GpuCost(1.5, "assumed: 30 InstructPix2Pix steps"),
    "reward-instruct-pix2pix": GpuCost(1.6, "assumed: 30 steps and the reward encoder"),
    "hive": GpuCost(4.8, "assumed: 100 steps of an SD-1.5 U-Net"),
    "smartedit": GpuCost(6.0, "assumed: 100 steps at 256 px and a 7B language model"),
    "reward-smartedit": GpuCost(6.0, "assumed: as SmartEdit"),
}
#: What an editor not in the table is assumed to take.
DEFAULT_GPU_COST = GpuCost(5.0, "assumed")
#: Characters of the authors' prompts per ask, when they are not cached yet (their longest is ~2,100).
PROMPT_CHARS = 2100


class Weights(NamedTuple):
    """The weights an editor would load, and whether they are here."""

    weights: str | None
    status: Literal["local", "cached", "download", "missing"]
    #: In words, for the dry run and the page.
    note: str


def hub_cached(repo_id: str) -> bool:
    """True when the Hugging Face cache holds a snapshot of ``repo_id`` (nothing is downloaded)."""
    from huggingface_hub import constants

    snapshots = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def weights_status(adapter: str, given: str | None) -> Weights:
    """Where the weights of ``adapter`` come from (``given``: ``--weights``), and whether they are here."""
    cls = ADAPTERS.get(adapter)
    weights = given or getattr(cls, "default_weights", None)
    if not weights:
        hint = getattr(cls, "weights_hint", None) or "--weights"
        return Weights(None, "missing", f"weights: none by default ({hint}; give --weights {adapter}=DIR)")
    path = Path(weights).expanduser()
    if path.exists():
        return Weights(str(path), "local", f"weights {path}")
    if given is not None and (weights.startswith((".", "/", "~")) or weights.count("/") != 1):
        return Weights(weights, "missing", f"weights: {weights} does not exist")
    if hub_cached(weights):
        return Weights(weights, "cached", f"weights {weights} (in the Hugging Face cache)")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return Weights(weights, "missing", f"weights: {weights} is not in the Hugging Face cache and "
                                           "HF_HUB_OFFLINE is set")
    return Weights(weights, "download", f"weights {weights} (downloaded on first use)")


@dataclass
class ReproduceOptions:
    """What ``realedit reproduce`` was asked for (the command line's options)."""

    table: TableName
    runs: Path = Path("runs")
    out: Path = Path("site")
    data_dir: Path | None = None
    judge: str | None = None
    models: Sequence[str] = ()
    weights: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    limit: int | None = None
    samples: str | Sequence[str] | None = None
    seed: int = PAPER_SEED
    device: str = "auto"
    dtype: str = "auto"
    human: Sequence[Path] = ()
    clip_weights: Path | None = None
    max_cost: float | None = None
    dry_run: bool = False

    def subset(self) -> str:
        """'all', or the --limit / --samples that select part of the benchmark (as the record says it)."""
        parts = ([f"--limit {self.limit}"] if self.limit is not None else []) + (
            [f"--samples {self.samples if isinstance(self.samples, str) else ','.join(self.samples)}"]
            if self.samples else [])
        return " ".join(parts) or "all"


@dataclass
class MethodPlan:
    """One method of the table: its editor, weights and run, or why it is not reproduced."""

    method: str
    adapter: str | None
    status: MethodStatus | Literal["planned"]
    missing: str | None = None
    weights: Weights | None = None
    #: The run directory it resumes or makes, the edits left to make, and the samples it selects.
    run_dir: Path | None = None
    to_do: int = 0
    n_selected: int = 0

    #: The steps given with -M (None: the editor's default), which scale the estimate.
    steps: int | None = None

    @property
    def gpu(self) -> GpuCost:
        """Seconds per image of its editor (an estimate), scaled to the steps given."""
        cost = SECONDS_PER_IMAGE.get(self.adapter or "", DEFAULT_GPU_COST)
        default = getattr(ADAPTERS.get(self.adapter), "default_steps", None) if self.adapter else None
        if self.steps is None or not isinstance(default, int) or self.steps == default:
            return cost
        return GpuCost(cost.seconds * self.steps / default, f"{cost.basis}, scaled to {self.steps} steps")


@dataclass
class TablePlan:
    """What reproducing one table takes: its methods, the data, the judge's calls and money."""

    table: TableName
    methods: list[MethodPlan]
    #: Lines about the data, the judge and the prompts (found, or what is missing).
    notes: list[str] = field(default_factory=list)
    judge: str | None = None
    judge_calls: int = 0
    judge_cost: float | None = None
    judge_price: str = ""
    #: Samples selected (each method's run edits them all when nothing is done yet).
    n_samples: int = 0

    @property
    def gpu_seconds(self) -> float:
        """Estimated GPU seconds of the edits still to make."""
        return sum(m.to_do * m.gpu.seconds for m in self.methods if m.status == "planned")

    @property
    def missing_gpu_seconds(self) -> float:
        """Estimated GPU seconds the methods whose weights are missing would add once they are given."""
        return sum(self.n_samples * m.gpu.seconds for m in self.methods if m.status == "missing")


def _selected(options: ReproduceOptions) -> set[str]:
    """The editors ``--models`` names (each checked), or every editor of the table."""
    known = {a for m in TABLE_METHODS[options.table] if (a := ADAPTER_OF.get(m))}
    chosen = set(options.models)
    unknown = sorted(chosen - known)
    if unknown:
        raise ConfigError(f"--models: {', '.join(unknown)} reproduce(s) no method of {options.table} "
                          f"(its editors: {', '.join(sorted(known))})")
    return chosen or known


def method_plans(options: ReproduceOptions,
                 dry_run_of: Callable[[str, Weights], tuple[Path, int, int]]) -> list[MethodPlan]:
    """Every method of the table, planned. ``dry_run_of(adapter, weights)`` is the editor's dry run (its run
    directory, the edits left to make and the samples selected); a method whose editor cannot be set up says
    why."""
    chosen = _selected(options)
    plans = []
    for method in TABLE_METHODS[options.table]:
        adapter = ADAPTER_OF.get(method)
        if adapter is None:
            plans.append(MethodPlan(method, None, "no adapter", "realedit has no editor for it"))
            continue
        if adapter not in chosen:
            plans.append(MethodPlan(method, adapter, "not selected", "left out by --models"))
            continue
        if options.table == "table3":
            plans.append(MethodPlan(method, adapter, "planned"))
            continue
        weights = weights_status(adapter, options.weights.get(adapter))
        steps = options.settings.get(adapter, {}).get("steps")
        plan = MethodPlan(method, adapter, "planned", weights=weights,
                          steps=int(str(steps)) if str(steps).isdigit() else None)
        if weights.status == "missing":
            plan.status, plan.missing = "missing", weights.note
        else:
            try:
                plan.run_dir, plan.to_do, plan.n_selected = dry_run_of(adapter, weights)
            except RealEditError as exc:  # e.g. a setting the editor refuses: this method only
                plan.status, plan.missing = "failed", str(exc)
        plans.append(plan)
    return plans


def judge_estimate(plan: TablePlan, backend: Any, prices: Any, sizes: Sequence[tuple[int, int]],
                   prompt_chars: Mapping[str, int]) -> None:
    """The judge's calls (3 per edit: a bound, as judgments already made are not asked again) and money of
    Table 1, into ``plan`` (``sizes``: the source photos of the selected samples)."""
    from realedit_bench.judges.protocol import paper_size

    n_edits = sum(m.n_selected for m in plan.methods if m.status == "planned")
    plan.judge_calls = 3 * n_edits
    shown = [paper_size(s) for s in sizes] or [(683, 512)]
    per_edit_in = 0.0
    for persp, images in (("following", 2), ("preserving", 2), ("quality", 1)):
        tokens = [backend.estimate_input_tokens("x" * prompt_chars[persp], [size] * images) for size in shown]
        per_edit_in += sum(tokens) / len(tokens)
    price = prices.lookup(backend.name)
    if price is not None:
        plan.judge_cost = prices.cost(backend.name, int(per_edit_in * n_edits), 3 * 50 * n_edits)
        plan.judge_price = f"${price.input:g}/M input and ${price.output:g}/M output tokens"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def describe_plan(plan: TablePlan) -> str:
    """The dry run's text: what will run, the GPU time it expects, the judge's calls and cost, what is
    missing and what is not reproduced."""
    lines = [f"realedit reproduce {plan.table}: {TITLES[plan.table]} (Gu et al., ICLR 2025)", *plan.notes]
    planned = [m for m in plan.methods if m.status == "planned"]
    if planned and plan.table != "table3":
        lines.append("will run (a finished run resumes: only the edits left are made):")
        for m in planned:
            weights = m.weights.note if m.weights else ""
            lines.append(f"  {m.method:<18} {m.adapter:<24} {m.to_do:>4} of {m.n_selected} edits to make, "
                         f"~{_duration(m.to_do * m.gpu.seconds)} ({m.gpu.seconds:g} s/image, {m.gpu.basis}); "
                         f"{weights}")
    elif planned:
        lines.append(f"human ratings of: {', '.join(m.method for m in planned)}")
    headings = {"missing": "missing (not run)", "failed": "cannot be set up",
                "no adapter": "not reproduced (no adapter in realedit; the published row stays)",
                "not selected": "not selected (--models)"}
    for status, heading in headings.items():
        found = [m for m in plan.methods if m.status == status]
        if found:
            lines.append(f"{heading}:")
            lines += [f"  {m.method}{f' ({m.adapter})' if m.adapter else ''}: {m.missing}" for m in found]
    if plan.table != "table3":
        lines.append(f"GPU time: about {_duration(plan.gpu_seconds)} on one H100 for "
                     f"{sum(m.to_do for m in planned)} edits (an estimate: seconds per image measured for "
                     f"InstructPix2Pix, assumed for the others; longer on smaller GPUs)")
        missing = [m for m in plan.methods if m.status == "missing"]
        if missing and plan.n_samples:
            lines.append(f"  with the {len(missing)} missing method(s) given weights: about "
                         f"{_duration(plan.missing_gpu_seconds)} more for {len(missing) * plan.n_samples} "
                         f"edits" + (f" and up to {3 * len(missing) * plan.n_samples:,} more judge calls"
                                     if plan.table == "table1" else ""))
    if plan.table == "table1":
        cost = (f"about ${plan.judge_cost:.2f} at {plan.judge_price}" if plan.judge_cost is not None
                else "cost unknown (no price for the judge)")
        lines.append(f"judge: {plan.judge} with --protocol paper: up to {plan.judge_calls:,} calls (3 per "
                     f"edit; judgments already made are not asked again), {cost}")
    lines.append("dry run: nothing was run, sent or written")
    return "\n".join(lines)


# -- planning ---------------------------------------------------------------------------------------------


def _data_note(options: ReproduceOptions) -> tuple[list[tuple[int, int]] | None, str]:
    """The source-photo sizes of the selected samples (None when the data is not there) and a line on it."""
    from PIL import Image

    from realedit_bench.datasets import parse_sample_ids, select
    from realedit_bench.inputs import load_benchmark
    from realedit_bench.settings import resolve_data_dir

    bench = BENCHMARKS[options.table]
    try:
        loaded = load_benchmark(bench, options.data_dir)
    except RealEditError as exc:
        return None, f"data: {bench} not usable ({exc}); {data_hint(options.table)}"
    chosen = select(loaded.samples, limit=options.limit, sample_ids=parse_sample_ids(options.samples))
    sizes = []
    for s in chosen:
        with Image.open(s.image) as im:  # the header only
            sizes.append(im.size)
    where = resolve_data_dir(options.data_dir, bench)
    return sizes, f"data: {bench} in {where}: {len(chosen)} of {len(loaded.samples)} samples selected"


def data_hint(table: str) -> str:
    """How to get the data a table needs."""
    if BENCHMARKS[table] == "magicbrush":
        return ("Table 2 needs the MagicBrush test set: 'realedit data fetch --benchmark magicbrush --from "
                "<the test zip or its folder>' first")
    return "'realedit data fetch' gets Real-Edit"


def _prompt_chars() -> tuple[dict[str, int], str]:
    """Characters of the authors' prompts per perspective (cached, else an estimate) and a line on them."""
    from realedit_bench.judges.paper_prompts import cache_dir, load_prompts

    try:
        found = load_prompts()
    except RealEditError as exc:
        return dict.fromkeys(("following", "preserving", "quality"), PROMPT_CHARS), f"prompts: {exc}"
    if found is None:
        return (dict.fromkeys(("following", "preserving", "quality"), PROMPT_CHARS),
                f"prompts: the authors' are not in {cache_dir()} yet: fetched on first use ('realedit data "
                f"fetch paper-prompts'); their length is estimated")
    t = found.texts
    stems = {"following": "following", "preserving": "keep_detail", "quality": "quality"}
    chars = {p: len(t[f"{stem}.system.txt"]) + len(t[f"{stem}.user.txt"]) for p, stem in stems.items()}
    return chars, f"prompts: the authors', cached in {found.folder} ({found.source.obtained})"


def _judge_lines(plan: TablePlan, options: ReproduceOptions, sizes: Sequence[tuple[int, int]],
                 log: Callable[[str], None]) -> None:
    """The judge of Table 1: whether its key is set, its prompts, and its calls and money."""
    from realedit_bench.judges.backends import make_backend
    from realedit_bench.judges.prices import load_prices
    from realedit_bench.judges.protocol import DEFAULTS

    plan.judge = options.judge or DEFAULTS["paper"].judge
    backend = make_backend(plan.judge, check_key=False)
    try:
        make_backend(plan.judge, check_key=True)
        plan.notes.append(f"judge: {plan.judge}: its key is set")
    except ConfigError as exc:
        plan.notes.append(f"judge: missing: {exc} (needed before the run starts)")
    chars, prompts_line = _prompt_chars()
    plan.notes.append(prompts_line)
    judge_estimate(plan, backend, load_prices(None), sizes, chars)


def plan_table(options: ReproduceOptions, log: Callable[[str], None]) -> TablePlan:
    """Every method of the table with what it needs and what it would cost (nothing is run or written).

    Raises:
        ConfigError: an unknown table or editor named.
    """
    from realedit_bench.api import run_model

    sizes, data_line = _data_note(options)
    n_default = options.limit if options.limit is not None else (560 if BENCHMARKS[options.table] ==
                                                                  "real-edit" else 0)

    def dry_run_of(adapter: str, weights: Weights) -> tuple[Path, int, int]:
        if sizes is None:  # no data to plan the run on: every selected sample is still to edit
            return options.runs / adapter, n_default, n_default
        out = run_model(adapter, out=options.runs, weights=options.weights.get(adapter),
                        settings=options.settings.get(adapter, {}), device=options.device,
                        dtype=options.dtype,
                        seed=options.seed, limit=options.limit, samples=options.samples,
                        benchmark=BENCHMARKS[options.table], data_dir=options.data_dir, dry_run=True)
        assert out.plan is not None and out.run_dir is not None  # a dry run always plans
        return out.run_dir, out.plan.to_do, out.n_selected

    plan = TablePlan(options.table, method_plans(options, dry_run_of), notes=[data_line],
                     n_samples=len(sizes) if sizes is not None else n_default)
    if options.table == "table1":
        _judge_lines(plan, options, sizes or [], log)
    if options.table == "table3":
        plan.notes.append(f"human ratings: {', '.join(map(str, options.human))}" if options.human else
                          "human ratings: missing: give --human ratings.csv (the format of 'realedit agree')")
    return plan


# -- running ----------------------------------------------------------------------------------------------


class Stopped(Exception):
    """A step stopped the whole reproduction: Ctrl-C (``code`` 130) or a judge stop a user must act on (2)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code


def check_ready(plan: TablePlan, options: ReproduceOptions, log: Callable[[str], None]) -> None:
    """Before anything runs: the data, the judge's key and the authors' prompts (Table 1), the human ratings
    (Table 3).

    Raises:
        RealEditError: what is missing, in one line.
    """
    from realedit_bench.inputs import load_benchmark

    if options.table != "table3":
        try:
            load_benchmark(BENCHMARKS[options.table], options.data_dir)
        except RealEditError as exc:
            raise type(exc)(f"{exc}; {data_hint(options.table)}") from exc
    if options.table == "table1" and any(m.status == "planned" for m in plan.methods):
        from realedit_bench.judges.session import judge_edits

        judge_edits(judge=plan.judge, protocol="paper", check=True, log=log)  # key, then the prompts
    if options.table == "table3" and not options.human:
        raise ConfigError("reproduce table3 reads human ratings: give --human ratings.csv (the format of "
                          "'realedit agree'; 'realedit agree --template RUN' makes a sheet)")


def _run(m: MethodPlan, options: ReproduceOptions, log: Callable[[str], None],
         on_progress: Any) -> Any:
    """Run (or resume) the method's editor; its outcome."""
    from realedit_bench.api import run_model

    assert m.adapter is not None
    run = run_model(m.adapter, out=options.runs, weights=options.weights.get(m.adapter),
                    settings=options.settings.get(m.adapter, {}), device=options.device, dtype=options.dtype,
                    seed=options.seed, limit=options.limit, samples=options.samples,
                    benchmark=BENCHMARKS[options.table], data_dir=options.data_dir, on_progress=on_progress,
                    log=log)
    if run.exit_code == 130:
        raise Stopped(130)
    return run


def _measure(run: Any, plan: TablePlan, options: ReproduceOptions, log: Callable[[str], None],
             on_progress: Any) -> str | None:
    """Judge (Table 1) or measure (Table 2) a run; a note when part of it failed."""
    from realedit_bench.api import compute_metrics
    from realedit_bench.judges.session import judge_edits

    if options.table == "table1":
        judged = judge_edits(images=run.run_dir, protocol="paper", judge=plan.judge,
                             data_dir=options.data_dir, limit=options.limit, samples=options.samples,
                             max_cost=options.max_cost,
                             on_progress=on_progress, log=log)
        if judged.exit_code in (2, 130):
            raise Stopped(judged.exit_code, judged.stopped or "")
        return "; ".join(judged.warnings) or None
    measured = compute_metrics(run.run_dir, metrics=list(TABLE2_METRICS), data_dir=options.data_dir,
                               clip_weights=options.clip_weights, on_progress=on_progress, log=log)
    return "; ".join(f"{k}: {v}" for k, v in measured.not_measured.items()) or None


def reproduce_method(m: MethodPlan, plan: TablePlan, options: ReproduceOptions, log: Callable[[str], None],
                     on_progress: Any) -> MethodRecord:
    """Run and judge (or measure) one method; its record (a failure is recorded, never raised).

    Raises:
        Stopped: Ctrl-C, or the judge stopped on something a user must fix (key, quota, budget).
    """
    record = MethodRecord(method=m.method, adapter=m.adapter, status="failed" if m.status == "planned"
                          else m.status, missing=m.missing)
    if m.status != "planned":
        return record
    log(f"{m.method}: {m.adapter}")
    try:
        run = _run(m, options, log, on_progress)
        record.run = run.run_dir.name
        record.settings = dict(run.manifest.adapter.params) if run.manifest is not None else {}
        record.missing = _measure(run, plan, options, log, on_progress)
    except RealEditError as exc:
        record.missing = str(exc)
        log(f"{m.method}: failed: {exc}")
        return record
    record.status = "reproduced"
    return record


def human_records(plan: TablePlan, options: ReproduceOptions) -> list[MethodRecord]:
    """Table 3: each method's mean human score per perspective, from the ratings whose model is its editor
    (or the paper's name for it)."""
    from realedit_bench.agreement.ratings import read_ratings
    from realedit_bench.stats.bootstrap import cluster_mean_ci

    ratings = read_ratings(list(options.human), what="--human").ratings
    out = []
    for m in plan.methods:
        record = MethodRecord(method=m.method, adapter=m.adapter, status="missing" if m.status == "planned"
                              else m.status, missing=m.missing)
        names = {m.method.casefold(), (m.adapter or "").casefold()}
        mine = [r for r in ratings if r.model.casefold() in names]
        for persp in ("following", "preserving", "quality"):
            per_edit: dict[str, list[float]] = {}
            photo: dict[str, str] = {}
            for r in mine:
                if r.perspective == persp:
                    per_edit.setdefault(r.sample_id, []).append(r.score)
                    photo[r.sample_id] = r.image_id
            if per_edit:
                values = [sum(v) / len(v) for v in per_edit.values()]
                ci = cluster_mean_ci(values, [photo[s] for s in per_edit])
                assert ci is not None  # values is not empty
                record.human[persp] = HumanFigure(mean=ci.estimate, ci=ci.bounds, n=len(values),
                                                  n_photos=len(set(photo.values())))
        if m.status == "planned":
            record.status = "reproduced" if record.human else "missing"
            record.missing = None if record.human else f"no rating of {m.adapter} or {m.method} in --human"
        out.append(record)
    return out


def paper_judgments(runs: Path, records: Sequence[MethodRecord]) -> list[Path]:
    """The paper-protocol judgments files of the runs of ``records``'s editors under ``runs`` (for agree)."""
    from realedit_bench.jsonio import read_model
    from realedit_bench.schema.run import RunManifest

    editors = {r.adapter for r in records if r.adapter}
    found = []
    for manifest in sorted(Path(runs).glob("*/manifest.json")):
        if read_model(manifest, RunManifest).adapter.name in editors:
            found += sorted((manifest.parent / "judgments").glob("*__paper-*.paper-parse.jsonl"))
    return found


def agree_table3(options: ReproduceOptions, records: Sequence[MethodRecord],
                 log: Callable[[str], None]) -> str | None:
    """Hold the paper-protocol judgments of the rated editors' runs against the human ratings
    (``<runs>/agreement-table3.json``, a page of the site); a note when there is nothing to hold."""
    from realedit_bench.api import agree

    files = paper_judgments(options.runs, records)
    if not files:
        return ("no run of these editors judged with --protocol paper under the runs folder: the judge's "
                "agreement with the humans is not computed")
    try:
        agree(list(options.human), files, out=options.runs / "agreement-table3.json", log=log)
    except ConfigError as exc:  # e.g. the ratings name other models than the runs
        return f"agreement with the judge not computed: {exc}"
    return None


def write_record(options: ReproduceOptions, plan: TablePlan, records: list[MethodRecord],
                 notes: list[str]) -> Path:
    """Write ``<runs>/reproduction-<table>.json`` (what ``realedit report`` builds the page from)."""
    from realedit_bench import __version__
    from realedit_bench.jsonio import atomic_write_json
    from realedit_bench.provenance import command_line, utc_now
    from realedit_bench.schema.reproduce import ReproductionRecord

    path = Path(options.runs) / f"reproduction-{options.table}.json"
    atomic_write_json(path, ReproductionRecord(
        table=options.table, created_at=utc_now(), realedit_version=__version__, command=command_line(),
        judge=plan.judge, seed=options.seed, samples=options.subset(), methods=records,
        human_files=[str(p) for p in options.human], notes=notes,
    ))
    return path


def check_table(table: str) -> TableName:
    """``table`` as a table name, or a one-line error naming the reproducible ones."""
    if table in TABLE_METHODS:
        return cast(TableName, table)
    raise ConfigError(f"unknown table {table!r} (reproducible: {', '.join(TABLE_METHODS)})")
