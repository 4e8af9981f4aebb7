"""Resolve what the user points at: ``--images`` into (sample, edited image) pairs, for judge and
metrics; ``--judgments`` into judgment files, for agree.

Two forms of ``--images`` are accepted:

* a **run directory** of ``realedit run`` (it holds ``manifest.json`` and ``edits.jsonl``): the
  benchmark, data directory and model name come from the manifest; samples whose edit failed are
  listed as missing;
* a **plain folder** of edited images named by sample id, ``<sample_id>.<png|jpg|jpeg|webp>``
  (e.g. ``10-local.png``, ``10-remove.jpg``), matched without regard to case (``10-Local.PNG`` is
  ``10-local``). Only files directly in the folder are read: images in subfolders are listed as
  unmatched by their relative path (``sub/10-local.png``), never silently skipped. The model name
  defaults to the folder name. Files that match no sample id are listed as unmatched; samples without
  a file are listed as missing.

A run directory whose ``edits.jsonl`` says an edit succeeded but whose output file is gone lists that
sample under ``unreadable`` (and under ``missing``, for callers that only know that list).

``--judgments`` names judgments files, run directories or their ``judgments/`` folders
(:func:`judgment_files`); their rows are read with the judgments of images a later ``realedit run`` redid
left out (:func:`read_judgment_files`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from realedit_bench.datasets import LoadedBenchmark, Sample
from realedit_bench.errors import ConfigError, DataError
from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.schema.run import EditRow, ModelInput, RunManifest
from realedit_bench.settings import resolve_data_dir
from realedit_bench.userfiles import check_inside, check_regular

if TYPE_CHECKING:
    from realedit_bench.agreement.compute import JudgeScores, JudgmentFile
    from realedit_bench.agreement.ratings import Rating
    from realedit_bench.schema.agree import InputFile

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Files realedit itself writes into a judged/measured folder: not edits, never "unmatched".
OWN_OUTPUTS = {"metrics.jsonl", "metrics_summary.json", "agreement.json", "manifest.json", "edits.jsonl"}
#: Subfolders realedit itself writes into a judged folder: not searched for stray edits.
OWN_DIRS = {"judgments"}


class EditedItem(NamedTuple):
    """A benchmark sample and the edited image made for it."""

    sample: Sample
    edited: Path
    #: How the editor prepared the source for its model, as the run recorded it (None: the photo as it is,
    #: or a plain folder, which records nothing).
    model_input: ModelInput | None = None


class EditSet(NamedTuple):
    """Everything a judge or metric needs to know about a set of edits."""

    root: Path
    run_id: str
    model: str
    benchmark: LoadedBenchmark
    items: list[EditedItem]
    #: Sample ids with no usable edited image (absent, or the run recorded an error).
    missing: list[str]
    #: Files in a plain folder that match no sample id.
    unmatched: list[str]
    #: The run manifest when ``root`` is a run directory.
    manifest: RunManifest | None
    #: (sample id, problem) for edits the run recorded as made whose output file is gone.
    unreadable: tuple[tuple[str, str], ...] = ()
    #: Samples the run selected but never reached (interrupted); their ids are not recorded anywhere.
    n_not_run: int = 0

    def describe_missing(self, limit: int = 20) -> str:
        """The missing sample ids for a console line (first ``limit``), with the not-run count."""
        parts = self.missing[:limit]
        text = ", ".join(parts) + (f" ... ({len(self.missing)} in all)" if len(self.missing) > limit else "")
        if self.n_not_run:
            text += ("; " if text else "") + f"{self.n_not_run} selected samples not yet run"
        return text

    @property
    def n_missing(self) -> int:
        """Samples without a usable edit: missing ids plus selected samples never run."""
        return len(self.missing) + self.n_not_run


def is_run_dir(path: Path) -> bool:
    """True when ``path`` looks like a ``realedit run`` output directory (its two files are there; a named
    pipe or a folder in their place is refused by the readers, in one line)."""
    return (Path(path) / "manifest.json").exists() and (Path(path) / "edits.jsonl").exists()


def load_benchmark(name: str, data_dir: Path | None, *, follow_symlinks: bool = False) -> LoadedBenchmark:
    """Load benchmark ``name`` from ``data_dir`` (or its default directory), its image files checked (see
    :func:`~realedit_bench.datasets.base.check_files`)."""
    from realedit_bench.datasets.base import check_files
    from realedit_bench.registry import BENCHMARKS

    bench_cls = BENCHMARKS.get(name)
    bench = bench_cls().load(resolve_data_dir(data_dir, name))
    check_files(bench, follow_symlinks=follow_symlinks)
    return bench


def _edited_file(path: Path, root: Path, follow_symlinks: bool) -> bool:
    """True when the edited image ``path`` is a regular file in ``root``, False when it does not exist.

    Raises:
        DataError: a symlink leads it out of ``root`` (unless ``follow_symlinks``), or it is a folder, a
            named pipe or a device.
    """
    check_inside(path, root, what="edited image", follow_symlinks=follow_symlinks)
    return check_regular(path, what="edited image") is not None


def resolve_edits(
    images: Path, *, data_dir: Path | None = None, benchmark: str | None = None, model: str | None = None,
    follow_symlinks: bool = False,
) -> EditSet:
    """Pair every benchmark sample with its edited image under ``images`` (see module docstring); images
    that symlinks lead out of their folder are refused unless ``follow_symlinks``."""
    root = Path(images)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory (give a run directory or a folder of edited images)")
    if is_run_dir(root):
        manifest = read_model(root / "manifest.json", RunManifest)
        bench_name = benchmark or manifest.benchmark.name
        bench = load_benchmark(bench_name, data_dir or Path(manifest.benchmark.data_dir),
                               follow_symlinks=follow_symlinks)
        by_id = {s.sample_id: s for s in bench.samples}
        rows = {r.sample_id: r for r in read_rows(root / "edits.jsonl", EditRow)}  # last row wins
        items: list[EditedItem] = []
        missing: list[str] = []
        gone: list[tuple[str, str]] = []
        for sid, row in rows.items():
            sample = by_id.get(sid)
            if sample is None:
                raise DataError(f"{root}: edits.jsonl names sample {sid!r}, which "
                                "the benchmark data does not have")
            path = root / row.output if row.output else None
            if row.status == "ok" and path is not None and _edited_file(path, root, follow_symlinks):
                items.append(EditedItem(sample, path, row.model_input))
            else:
                missing.append(sid)
                if row.status == "ok":
                    gone.append((sid, f"edited image {path or '(no output recorded)'} does not exist, "
                                      f"though edits.jsonl records the edit as made"))
        selected = set(rows)
        order = {s.sample_id: i for i, s in enumerate(bench.samples)}
        items.sort(key=lambda it: order[it.sample.sample_id])
        missing.sort(key=lambda sid: order[sid])
        # Samples the run selected but never reached (interrupted) are missing as well.
        n_not_run = max(0, manifest.benchmark.n_samples_selected - len(selected))
        gone.sort(key=lambda g: order[g[0]])
        return EditSet(root, manifest.run_id, model or manifest.adapter.name, bench, items, missing, [],
                       manifest, tuple(gone), n_not_run)

    bench = load_benchmark(benchmark or "real-edit", data_dir, follow_symlinks=follow_symlinks)
    # Sample ids are matched without regard to case: '11-Local.png' is the edit of '11-local'.
    by_lower = {s.sample_id.lower(): s.sample_id for s in bench.samples}
    found: dict[str, Path] = {}
    unmatched: list[str] = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.name in OWN_OUTPUTS:
            continue
        if path.is_dir():
            if path.name not in OWN_DIRS:
                unmatched.extend(_images_below(path, root))
            continue
        match = by_lower.get(path.stem.lower())
        if path.suffix.lower() not in IMAGE_SUFFIXES or match is None:
            if path.is_file():
                unmatched.append(path.name)
            continue
        if not _edited_file(path, root, follow_symlinks):
            continue  # a dangling symlink: listed as missing
        if match in found:
            raise ConfigError(f"{root}: two files for sample {match!r}: {found[match].name}, {path.name}")
        found[match] = path
    if not found:
        raise ConfigError(
            f"{root} holds no edited image named by sample id (expected e.g. '10-local.png'; "
            f"{len(unmatched)} other files)"
        )
    items = [EditedItem(s, found[s.sample_id]) for s in bench.samples if s.sample_id in found]
    missing = [s.sample_id for s in bench.samples if s.sample_id not in found]
    return EditSet(root, root.name, model or root.name, bench, items, missing, unmatched, None)


def _images_below(folder: Path, root: Path) -> list[str]:
    """Image files anywhere under ``folder`` (hidden entries skipped), as paths relative to ``root``."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                out.append((Path(dirpath) / name).relative_to(root).as_posix())
    return out


def judgment_files(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """Expand run directories and judgments folders into their ``*.jsonl`` files.

    Returns (files, skipped). A folder's ``*.paper-parse.jsonl`` files are skipped: they are the same judge
    re-read with the authors' parser, not more asks, and count only when named explicitly (then as a
    judge of their own). A file named twice (directly and through its folder) is read once.
    """
    from realedit_bench.agreement.compute import PAPER_PARSE_SUFFIX

    out: list[Path] = []
    skipped: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found = [p]
        elif p.is_dir():
            folder = p / "judgments" if (p / "judgments").is_dir() else p
            # Per-item spreads of --repeats K (*.items.jsonl) are not judgments.
            found = sorted(f for f in folder.glob("*.jsonl") if not f.name.endswith(".items.jsonl"))
            skipped.extend(f for f in found if f.name.endswith(PAPER_PARSE_SUFFIX))
            found = [f for f in found if not f.name.endswith(PAPER_PARSE_SUFFIX)]
            if not found:
                raise ConfigError(
                    f"--judgments {p}: no *.jsonl judgments file in {folder}"
                    + (" (only paper-parse files: name one to use it)" if skipped else "")
                )
        else:
            check_regular(p, what="--judgments", error=ConfigError)  # a named pipe or a device: says which
            raise ConfigError(f"--judgments {p} does not exist (give a judgments "
                              ".jsonl file, or a run directory)")
        for f in found:
            if f.resolve() not in {o.resolve() for o in out}:
                out.append(f)
    named = {o.resolve() for o in out}
    return out, [s for s in skipped if s.resolve() not in named]


def default_agreement_path(judgments: Sequence[Path]) -> Path:
    """``<runs>/agreement.json`` when the judgments live in run directories under one parent, so that
    ``realedit report --runs <runs>`` renders it; else ``./agreement.json``."""
    parents = set()
    for p in map(Path, judgments):
        p = p.resolve()
        run = p.parent.parent if p.is_file() and p.parent.name == "judgments" else (
            p.parent if p.name == "judgments" else p)
        if not (run / "manifest.json").is_file() and not (run / "judgments").is_dir():
            return Path("agreement.json")
        parents.add(run.parent)
    return parents.pop() / "agreement.json" if len(parents) == 1 else Path("agreement.json")


class JudgmentInputs(NamedTuple):
    """The judgment files of an agreement, ready to compute with."""

    files: list[JudgmentFile]
    #: How each file entered the report (path, sha256, rows).
    inputs: list[InputFile]
    #: What was left out and why (judgments of redone images, paper-parse files of a folder).
    notes: list[str]


def read_judgment_files(paths: Sequence[Path]) -> JudgmentInputs:
    """Read every judgments file ``paths`` name (see :func:`judgment_files`), validated.

    Inside a run directory, judgments of images a later ``realedit run`` redid are not the run's any more:
    they are left out, with a note.

    Raises:
        ConfigError: A file holds no rows, or only rows of redone images.
    """
    from realedit_bench.agreement.compute import JudgmentFile, current_rows, parse_mode_of
    from realedit_bench.images import sha256_file
    from realedit_bench.judges.stale import drop_stale, edit_history
    from realedit_bench.schema.agree import InputFile
    from realedit_bench.schema.judge import JudgmentRow

    found, skipped = judgment_files(paths)
    out = JudgmentInputs([], [], [])
    for p in found:
        file_rows = read_rows(p, JudgmentRow)
        if not file_rows:
            raise ConfigError(f"--judgments {p} holds no judgment rows")
        history = edit_history(p.parent.parent) if p.parent.name == "judgments" else None
        file_rows, n_stale = drop_stale(file_rows, history)
        if n_stale:
            out.notes.append(f"{p}: left out {n_stale} judgment(s) (sample, perspective, repeat) of images "
                             "that 'realedit run' has since redone or removed; rerun 'realedit judge' on "
                             "the run to judge the current images")
        if not file_rows:
            raise ConfigError(f"--judgments {p}: every row judged an image the run has since redone; rerun "
                              "realedit judge")
        out.files.append(JudgmentFile(str(p), file_rows, parse_mode_of(p.name)))
        out.inputs.append(InputFile(path=str(p), kind="judgments", sha256=sha256_file(p),
                                    rows=len(current_rows(file_rows)[0])))
    if skipped:
        out.notes.append(
            f"skipped {len(skipped)} paper-parse judgments file(s) ({', '.join(str(p) for p in skipped)}): "
            "the same judge re-read with the authors' parser; name such a file with --judgments "
            "to compare it as its own judge"
        )
    return out


def check_judges_match(human: Sequence[Rating], judges: Sequence[JudgeScores]) -> list[str]:
    """Notes on models a judge scored that no human rated; a judge that shares no edit with the humans
    is an error (model names and sample ids must match)."""
    from realedit_bench.agreement.compute import natural_key

    human_models = {r.model for r in human}
    human_keys = {(r.sample_id.casefold(), r.model, r.perspective) for r in human}
    notes = []
    for j in judges:
        if not any((r.sample_id.casefold(), r.model, r.perspective) in human_keys for r in j.ratings):
            jm = sorted({r.model for r in j.ratings}, key=natural_key)
            raise ConfigError(
                f"judge {j.name!r} scored no edit the humans rated: its models are "
                f"{', '.join(jm) or 'none'}, the humans' are "
                f"{', '.join(sorted(human_models, key=natural_key))} (model and sample_id must match)"
            )
        extra = sorted({r.model for r in j.ratings} - human_models, key=natural_key)
        if extra:
            notes.append(f"judge {j.name!r} also scored models no human rated (left out): {', '.join(extra)}")
    return notes
