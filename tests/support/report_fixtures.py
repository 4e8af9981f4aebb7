"""Synthetic result files for the leaderboard tests and benchmark, written with the real pydantic schemas.

The summary numbers are computed here with plain Python (not with realedit's own summariser), so a test
that finds them on the page checks the page against an independent calculation.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from pathlib import Path

from PIL import Image

from realedit_bench.images import sha256_file
from realedit_bench.jsonio import atomic_write_json
from realedit_bench.labels import default_label
from realedit_bench.schema import (
    CATEGORIES,
    PERSPECTIVES,
    AdapterRef,
    BenchmarkRef,
    EditRow,
    JudgeSummary,
    JudgmentRow,
    MetricSummary,
    PerspectiveSummary,
    RunManifest,
    Usage,
)

JUDGE = "openai/gpt-4o-2024-08-06"
RUBRIC = "realedit-v1"
WHEN = "2025-03-01T12:00:00+00:00"
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'

# What instruct-pix2pix records when run with -M steps=20 -M scheduler=ddim on a GPU.
IP2P_PARAMS = {
    "weights": "timbrooks/instruct-pix2pix",
    "weights_fingerprint": None,
    "revision": None,
    "steps": 20,
    "guidance_scale": 7.5,
    "image_guidance_scale": 1.5,
    "resolution": 512,
    "resize": "longer side ~resolution, sides multiples of 64, Lanczos centre fit",
    "scheduler": "ddim",
    "negative_prompt": "",
    "device": "cuda:0",
    "dtype": "float16",
    "generator": "torch.Generator('cpu') per sample",
}


class _Lines:
    """Buffered JSON-lines writer: the same file format as ``JsonlAppender`` without an fsync per row,
    so the 10 x 560-sample benchmark fixture is written in seconds."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in __exit__

    def append(self, row) -> None:
        self._fh.write(json.dumps(row.model_dump(mode="json"), ensure_ascii=False, sort_keys=True) + "\n")

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def _tiny_image(path: Path, rng: random.Random, size: int, fmt: str) -> None:
    colour = tuple(rng.randrange(256) for _ in range(3))
    im = Image.new("RGB", (size, size), colour)
    # A second block so thumbnails are not flat colour.
    im.paste(tuple(255 - c for c in colour), (0, 0, size // 2, size // 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format=fmt)


def make_dataset(root: Path, n_photos: int, *, payload: str | None = None, size: int = 48) -> Path:
    """A Real-Edit-shaped data folder: ``eval_instruct.json`` and ``imgs/<n>.jpeg``."""
    root = Path(root)
    rng = random.Random(1234)
    mapping = {}
    for i in range(1, n_photos + 1):
        name = f"{i}.jpeg"
        _tiny_image(root / "imgs" / name, rng, size, "JPEG")
        texts = []
        for k, c in enumerate(CATEGORIES, 1):
            extra = f" {payload}" if payload and i == 1 and c == "local" else ""
            texts.append(f"{k}. {c.capitalize()}: make the {c} part of photo {i} nicer{extra}")
        mapping[name] = texts
    (root / "eval_instruct.json").write_text(json.dumps(mapping), encoding="utf-8")
    return root


def instruction_for(photo: int, category: str, payload: str | None = None) -> str:
    """The instruction text :func:`make_dataset` writes (without its prefix)."""
    extra = f" {payload}" if payload and photo == 1 and category == "local" else ""
    return f"make the {category} part of photo {photo} nicer{extra}"


def _ci(values: list[float], lo: float = 0.0, hi: float = 5.0) -> tuple[float, float] | None:
    if not values:
        return None
    m = sum(values) / len(values)
    sd = statistics.pstdev(values)
    half = 1.96 * sd / math.sqrt(len(values))
    return (max(lo, m - half), min(hi, m + half))


def summarise(rows: list[JudgmentRow]) -> PerspectiveSummary:
    """Plain-Python summary of one perspective's rows (K = 1)."""
    ok = [r for r in rows if r.status == "ok"]
    verdicts = [1.0 if r.verdict else 0.0 for r in ok]
    scores = [float(r.score) for r in ok if r.score is not None]
    hist: dict[str, int] = {}
    for s in scores:
        hist[str(int(round(s)))] = hist.get(str(int(round(s))), 0) + 1
    return PerspectiveSummary(
        n=len(rows),
        n_valid=len(ok),
        n_invalid=sum(r.status == "invalid" for r in rows),
        n_refused=sum(r.status == "refused" for r in rows),
        n_error=sum(r.status == "error" for r in rows),
        accuracy=sum(verdicts) / len(verdicts) if verdicts else None,
        accuracy_ci=_ci(verdicts, 0.0, 1.0),
        score_mean=sum(scores) / len(scores) if scores else None,
        score_ci=_ci(scores),
        score_median=statistics.median(scores) if scores else None,
        score_histogram=dict(sorted(hist.items())),
    )


def make_run(
    runs: Path,
    model: str,
    n_samples: int,
    seed: int,
    *,
    data_dir: Path,
    run_id: str | None = None,
    judge: str = JUDGE,
    rubric: str = RUBRIC,
    payload: str | None = None,
    image_size: int = 24,
    metrics: bool = True,
    skill: float | None = None,
    n_selected: int | None = None,
    fail_rate: float = 0.0,
    n_total: int = 560,
    params: dict | None = None,
    base_seed: int | None = None,
    label: str | None = None,
) -> Path:
    """Write a complete run directory: manifest, edits, images, judgments + summary, metrics summary.

    Args:
        runs: parent folder; the run goes to ``runs/<run_id>``.
        model: adapter name recorded (may be a hostile string for the XSS test).
        n_samples: samples, 7 per photo in benchmark order.
        seed: drives every random choice, so the same call writes the same files.
        data_dir: the folder :func:`make_dataset` wrote.
        payload: appended to one instruction and to every judge reason.
        skill: probability of a yes verdict (drawn from ``seed`` when None).
        n_selected: samples the manifest says the run selected (default ``n_samples``); more than
            ``n_samples`` writes a run that stopped early.
        fail_rate: probability that a sample's edit failed (a run with failed edits is not ranked).
        n_total: samples in the benchmark, as the manifest records it.
        params: the editor settings the manifest records (default: steps 2, guidance 7.5).
        base_seed: the run's base seed, as the manifest records it (default: ``seed``).
        label: the run's display label (default: the runner's, the model and what differs from its
            defaults).
    """
    rng = random.Random(seed)
    run_id = run_id or f"{seed:04d}-run"
    root = Path(runs) / run_id
    skill = rng.uniform(0.3, 0.8) if skill is None else skill
    samples = []
    for i in range(n_samples):
        photo, c = divmod(i, len(CATEGORIES))
        samples.append((photo + 1, CATEGORIES[c]))
    edits: list[EditRow] = []
    with _Lines(root / "edits.jsonl") as out:
        for photo, cat in samples:
            sid = f"{photo}-{cat}"
            failed = rng.random() < fail_rate
            rel = f"images/{sid}.png"
            if not failed:
                _tiny_image(root / rel, rng, image_size, "PNG")
            row = EditRow(
                sample_id=sid,
                image_id=str(photo),
                category=cat,
                instruction=instruction_for(photo, cat, payload),
                source=f"{photo}.jpeg",
                status="error" if failed else "ok",
                output=None if failed else rel,
                output_sha256=None if failed else sha256_file(root / rel),
                seed=seed * 1000 + len(edits),
                error="RuntimeError: synthetic failure" if failed else None,
                seconds=0.1,
                size=None if failed else (image_size, image_size),
                finished_at=WHEN,
            )
            edits.append(row)
            out.append(row)
    ok_edits = [e for e in edits if e.status == "ok"]
    params = {"steps": 2, "guidance": 7.5} if params is None else params
    base_seed = seed if base_seed is None else base_seed
    manifest = RunManifest(
        run_id=run_id,
        label=label or default_label(model, params, base_seed),
        realedit_version="0.1.0",
        git_sha="abc123",
        command=["realedit", "run", "--model", model],
        created_at=WHEN,
        updated_at=WHEN,
        benchmark=BenchmarkRef(
            name="real-edit",
            data_dir=str(data_dir),
            instructions_sha256="0" * 64,
            n_samples_total=n_total,
            n_samples_selected=n_selected or n_samples,
        ),
        adapter=AdapterRef(name=model, family="synthetic", params=params),
        base_seed=base_seed,
        device="cpu",
        dtype="float32",
        status="interrupted"
        if (n_selected or n_samples) > n_samples
        else "complete"
        if len(ok_edits) == len(edits)
        else "failed",
        counts={"ok": len(ok_edits), "error": len(edits) - len(ok_edits)},
    )
    atomic_write_json(root / "manifest.json", manifest)

    write_judgments(root, run_id, model, ok_edits, rng, skill, judge=judge, rubric=rubric, payload=payload)
    if metrics:
        ms = MetricSummary(
            run_id=run_id,
            model=model,
            benchmark="real-edit",
            reference="source",
            n=len(edits),
            n_error=len(edits) - len(ok_edits),
            means={"clip_i": round(rng.uniform(0.7, 0.95), 4), "clip_t": round(rng.uniform(0.2, 0.32), 4)},
            cis={"clip_i": (0.6, 0.99), "clip_t": (0.15, 0.35)},
            created_at=WHEN,
            realedit_version="0.1.0",
            # As realedit_bench.metrics writes them for Real-Edit: image metrics are preservation measures.
            labels={"clip_i": "CLIP-I to source (preservation)", "clip_t": "CLIP-T"},
            higher_is_better={"clip_i": True, "clip_t": True},
        )
        atomic_write_json(root / "metrics_summary.json", ms)
    return root


def make_magicbrush_run(
    runs: Path, model: str, data_dir: Path, seed: int, *, run_id: str | None = None, judged: bool = False
) -> Path:
    """A run directory of ``realedit run --benchmark magicbrush``: every turn of the MagicBrush data in
    ``data_dir`` (written by ``MagicBrushBenchmark().fetch``), each edited into a flat image of its
    own colour."""
    from realedit_bench.datasets.magicbrush import MagicBrushBenchmark

    bench = MagicBrushBenchmark().load(data_dir)
    rng = random.Random(seed)
    run_id = run_id or f"{model}-magicbrush-{seed:04d}"
    root = Path(runs) / run_id
    edits: list[EditRow] = []
    with _Lines(root / "edits.jsonl") as out:
        for s in bench.samples:
            rel = f"images/{s.sample_id}.png"
            _tiny_image(root / rel, rng, 32, "PNG")
            row = EditRow(
                sample_id=s.sample_id,
                image_id=s.image_id,
                category=s.category,
                instruction=s.instruction,
                source=s.image.name,
                status="ok",
                output=rel,
                output_sha256=sha256_file(root / rel),
                seed=seed * 1000 + len(edits),
                seconds=0.1,
                size=(32, 32),
                finished_at=WHEN,
            )
            edits.append(row)
            out.append(row)
    manifest = RunManifest(
        run_id=run_id,
        label=default_label(model, {}, seed),
        realedit_version="0.1.0",
        git_sha="abc123",
        command=["realedit", "run", "--model", model, "--benchmark", "magicbrush"],
        created_at=WHEN,
        updated_at=WHEN,
        benchmark=BenchmarkRef(
            name="magicbrush",
            data_dir=str(data_dir),
            instructions_sha256=bench.content_sha256,
            n_samples_total=len(bench.samples),
            n_samples_selected=len(bench.samples),
        ),
        adapter=AdapterRef(name=model, family="synthetic", params={}),
        base_seed=seed,
        device="cpu",
        dtype="float32",
        status="complete",
        counts={"ok": len(edits), "error": 0},
    )
    atomic_write_json(root / "manifest.json", manifest)
    if judged:
        write_judgments(root, run_id, model, edits, rng, 0.6)
    return root


def write_judgments(
    root: Path,
    run_id: str,
    model: str,
    ok_edits: list[EditRow],
    rng: random.Random,
    skill: float,
    *,
    judge: str = JUDGE,
    rubric: str = RUBRIC,
    payload: str | None = None,
) -> None:
    """``judgments/<judge>__<rubric>.jsonl`` and its summary for ``ok_edits`` (any benchmark's categories)."""
    rows: list[JudgmentRow] = []
    stem = f"{judge.replace('/', '_')}__{rubric}"
    with _Lines(root / "judgments" / f"{stem}.jsonl") as out:
        for e in ok_edits:
            for p in PERSPECTIVES:
                u = rng.random()
                status = "invalid" if u < 0.02 else "refused" if u < 0.03 else "ok"
                verdict = score = reason = None
                if status == "ok":
                    verdict = rng.random() < skill
                    score = float(rng.randint(3, 5) if verdict else rng.randint(0, 3))
                    reason = f"{p} looks {'fine' if verdict else 'off'}" + (f" {payload}" if payload else "")
                row = JudgmentRow(
                    sample_id=e.sample_id,
                    image_id=e.image_id,
                    category=e.category,
                    model=model,
                    perspective=p,
                    status=status,
                    verdict=verdict,
                    score=score,
                    reason=reason,
                    judge=judge,
                    rubric=rubric,
                    edited_sha256=e.output_sha256,
                    usage=Usage(calls=1, input_tokens=900, output_tokens=40, cost_usd=0.003),
                    finished_at=WHEN,
                )
                rows.append(row)
                out.append(row)
    per_cat = {
        c: {p: summarise([r for r in rows if r.category == c and r.perspective == p]) for p in PERSPECTIVES}
        for c in dict.fromkeys(r.category for r in rows)
    }
    summary = JudgeSummary(
        run_id=run_id,
        model=model,
        judge=judge,
        judge_snapshot="gpt-4o-2024-08-06",
        rubric=rubric,
        created_at=WHEN,
        command=["realedit", "judge", "--images", str(root), "--judge", judge],
        realedit_version="0.1.0",
        n_samples=len(ok_edits),
        perspectives={p: summarise([r for r in rows if r.perspective == p]) for p in PERSPECTIVES},
        per_category=per_cat,
        usage=Usage(
            calls=len(rows),
            input_tokens=900 * len(rows),
            output_tokens=40 * len(rows),
            cost_usd=round(0.003 * len(rows), 6),
        ),
    )
    atomic_write_json(root / "judgments" / f"{stem}.summary.json", summary)


def invalidate_judgments(
    root: Path, *, status: str = "invalid", samples: set[str] | None = None, perspective: str | None = None
) -> int:
    """Turn the judgments of ``samples`` (default: every sample) of a run into ``status`` rows, as a judge
    whose replies could not be parsed (or whose calls failed) writes them, and rewrite the summary with the
    plain-Python :func:`summarise`. Only ``perspective`` when given. Returns the rows changed."""
    (path,) = sorted((root / "judgments").glob("*.jsonl"))
    rows = read_rows(path, JudgmentRow)
    changed = 0
    for i, r in enumerate(rows):
        if (samples is None or r.sample_id in samples) and perspective in (None, r.perspective):
            rows[i] = r.model_copy(update={"status": status, "verdict": None, "score": None, "reason": None})
            changed += 1
    write_rows(path, rows)
    summary_path = path.with_name(path.name[: -len(".jsonl")] + ".summary.json")
    summary = JudgeSummary.model_validate_json(summary_path.read_text())
    per_cat = {
        c: {p: summarise([r for r in rows if r.category == c and r.perspective == p]) for p in PERSPECTIVES}
        for c in dict.fromkeys(r.category for r in rows)
    }
    summary = summary.model_copy(
        update={
            "perspectives": {p: summarise([r for r in rows if r.perspective == p]) for p in PERSPECTIVES},
            "per_category": per_cat,
        }
    )
    atomic_write_json(summary_path, summary)
    return changed


def write_human_ratings(runs: list[Path], path: Path) -> Path:
    """Human ratings near the judge's scores of ``runs``, two raters, as ``realedit agree --human`` reads."""
    import csv

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "model", "perspective", "rater", "score", "verdict"])
        for k, run in enumerate(runs):
            for line in (next((run / "judgments").glob("*.jsonl"))).read_text().splitlines():
                row = json.loads(line)
                if row["status"] != "ok":
                    continue
                for r, shift in (("ann", 0), ("bo", (k % 2))):
                    s = min(5, int(row["score"]) + shift)
                    w.writerow(
                        [row["sample_id"], row["model"], row["perspective"], r, s, "yes" if s >= 3 else "no"]
                    )
    return path


def page_soup(path: Path):
    """A page the site builder wrote, parsed."""
    from bs4 import BeautifulSoup

    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def measured_rows(page) -> dict:
    """run id -> the ``<tr>`` of its measured row in the leaderboard tables of ``page`` (parsed)."""
    return {tr["data-run"]: tr for tr in page.select("table.leaderboard tbody.measured tr")}


def read_rows(path: Path, model) -> list:
    """The rows of a JSON-lines file as ``model`` instances."""
    return [model.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def write_rows(path: Path, rows) -> None:
    """Replace a JSON-lines file with ``rows`` (pydantic models)."""
    path.write_text("".join(r.model_dump_json() + "\n" for r in rows))
