"""Reward training data: reward labels joined with (source, edited, instruction) triplets.

Reward labels come from one of two files:

* **RewardEdit-20K JSON** (the authors' release, gated Hugging Face dataset ``Gstar666/RewardEdit``):
  ``{"<sample>": [{"Score": n, "Negative Prompt": "..."}, x3]}``, the three entries in the order
  following, preserving, quality. It holds no images: its keys name InstructPix2Pix triplets, so it is
  joined with a triplet source (below) by sample id.
* **Our reward JSONL** (written by ``realedit reward annotate``): one :class:`RewardRow` per triplet,
  holding its own image paths and instruction, so it needs no triplet source. Only rows whose three
  perspectives were all scored (``status == "ok"``) are used for training.

Triplet sources (``--triplets``):

* a **folder of triplets**, one sub-folder per sample id, in either layout::

      <root>/<sample_id>/source.png     (or .jpg/.jpeg/.webp)
      <root>/<sample_id>/edited.png
      <root>/<sample_id>/instruction.txt

  or the layout of the original InstructPix2Pix release (``clip-filtered-dataset``), whose folder
  names are the keys RewardEdit-20K uses::

      <root>/<sample_id>/prompt.json    ({"edit": "<instruction>", ...})
      <root>/<sample_id>/<seed>_0.jpg   (source)  and  <seed>_1.jpg  (edited)

  (when a folder holds several seeds, the smallest seed is used, so the choice is stable);
* a **JSONL manifest** (``*.jsonl``): lines ``{"id", "source", "edited", "instruction"}``, image paths
  relative to the manifest's folder (or absolute);
* the **Hugging Face dataset** ``hf:timbrooks/instructpix2pix-clip-filtered`` (needs the ``datasets``
  package; columns ``original_image``, ``edited_image``, ``edit_prompt``). That dataset has no sample
  id column: the id of a row is its index in the ``train`` split as a decimal string. The authors did
  not publish how their RewardEdit-20K keys map onto that dataset, so the join reports how many keys
  matched and refuses a join where keys are missing unless ``allow_missing`` is set.

Every image a training example names is checked up front, when the data is loaded (the file exists and
its header decodes): one :class:`DataError` lists the first few bad ones, or, with ``allow_missing``,
they are skipped and counted in the join report. Training never meets a bad file at step N after
checkpoints were saved (where every resume would fail again at the same draw).

Every draw of the training stream is a pure function of (seed, draw number): which example it is, its
random crop and its flip. Resuming at step N therefore replays exactly the data an uninterrupted run
would have seen, whatever the number of data-loader workers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from pydantic import Field

from realedit_bench.errors import ConfigError, DataError
from realedit_bench.images import check_image_header, load_image
from realedit_bench.jsonio import read_rows
from realedit_bench.schema.base import PERSPECTIVES, Perspective, Row
from realedit_bench.schema.judge import Usage
from realedit_bench.userfiles import read_json, read_text

#: Image file suffixes a triplet folder may use.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Largest instruction or prompt file of a triplet folder read (an instruction is a sentence).
MAX_INSTRUCTION_BYTES = 1 << 20
#: Prefix of a ``--triplets`` value that names a Hugging Face dataset.
HF_PREFIX = "hf:"
#: The InstructPix2Pix training set the paper drew RewardEdit-20K from.
DEFAULT_HF_DATASET = "timbrooks/instructpix2pix-clip-filtered"


# --------------------------------------------------------------------------------------------------
# Reward labels
# --------------------------------------------------------------------------------------------------


class RewardLabel(NamedTuple):
    """The multi-reward of one triplet: a 0-5 score and a failure text per perspective."""

    #: Scores in the order following, preserving, quality.
    scores: tuple[float, float, float]
    #: Failure descriptions in the same order ("None" when nothing failed, as the authors write it).
    texts: tuple[str, str, str]


class PerspectiveReward(Row):
    """The reward of one perspective of one triplet, as the annotating judge gave it."""

    status: Literal["ok", "invalid", "refused", "error"] = Field(
        description="ok: parsed; invalid: unparseable after one re-ask; refused: the judge declined; "
        "error: the call failed."
    )
    score: float | None = Field(default=None, description="0-5 score when status is ok.")
    failure: str | None = Field(
        default=None, description="Short description of what failed; 'None' when nothing failed."
    )
    reason: str | None = Field(default=None, description="Why the status is not ok, when it is not.")
    raw: str | None = Field(default=None, description="The judge's final reply text, verbatim.")
    model_snapshot: str | None = Field(default=None, description="Model id the provider reported back.")
    cache_key: str | None = Field(default=None, description="Content-addressed cache key of the request.")
    cached: bool = Field(default=False, description="True when the answer came from the cache.")
    attempts: int = Field(default=1, description="Calls made (retries and re-asks).")
    usage: Usage = Field(default_factory=Usage, description="Tokens and money of every attempt.")


class RewardRow(Row):
    """One line of our reward JSONL (``realedit reward annotate``): the multi-reward of one triplet."""

    sample_id: str = Field(description="Triplet id (folder name, manifest id or dataset row index).")
    source: str = Field(description="Source image path, relative to the JSONL's folder or absolute.")
    edited: str = Field(description="Edited image path, relative to the JSONL's folder or absolute.")
    instruction: str = Field(description="The edit instruction.")
    source_sha256: str | None = Field(default=None, description="sha256 of the source image file.")
    edited_sha256: str | None = Field(default=None, description="sha256 of the edited image file.")
    status: Literal["ok", "incomplete"] = Field(
        description="ok: all three perspectives scored; incomplete: at least one is "
                    "not ok (not used in training)."
    )
    rewards: dict[Perspective, PerspectiveReward] = Field(description="following/preserving/quality -> "
                                                                      "reward.")
    judge: str = Field(description="provider/model as asked.")
    rubric: str = Field(description="Reward rubric name and version.")
    params: dict[str, Any] = Field(default_factory=dict, description="Generation parameters sent.")
    usage: Usage = Field(default_factory=Usage, description="Tokens and money of the three perspectives.")
    finished_at: str = Field(description="UTC time the row was written.")

    def label(self) -> RewardLabel | None:
        """The reward label when every perspective was scored, else None."""
        if self.status != "ok":
            return None
        rewards = [self.rewards.get(p) for p in PERSPECTIVES]
        if any(r is None or r.status != "ok" or r.score is None for r in rewards):
            return None
        return RewardLabel(
            scores=tuple(float(r.score) for r in rewards),  # type: ignore[arg-type, union-attr]
            texts=tuple((r.failure or "None") for r in rewards),  # type: ignore[arg-type, union-attr]
        )


def _check_score(path: Path, key: str, index: int, value: object) -> float:
    where = f"{path}: sample {key!r}: entry {index} ({PERSPECTIVES[index]})"
    # bool is an int subclass; True is not a score.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"{where}: 'Score' must be a number from 0 to 5, got {value!r}")
    if not 0 <= value <= 5:
        raise DataError(f"{where}: 'Score' {value!r} is outside 0-5")
    return float(value)


def parse_rewardedit(data: object, path: Path) -> dict[str, RewardLabel]:
    """Validate parsed RewardEdit-20K JSON and return sample id -> label.

    Args:
        data: The parsed JSON document.
        path: Where it came from (named in errors).

    Returns:
        The labels, in file order.

    Raises:
        DataError: On any deviation from the layout, naming the sample and entry.
    """
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: RewardEdit-20K JSON must be an object of sample id -> 3 "
            f"entries, got {type(data).__name__}"
        )
    if not data:
        raise DataError(f"{path}: holds no samples")
    labels: dict[str, RewardLabel] = {}
    for key, entries in data.items():
        if not isinstance(entries, list) or len(entries) != 3:
            got = f"{len(entries)} entries" if isinstance(entries, list) else type(entries).__name__
            raise DataError(
                f"{path}: sample {key!r}: expected a list of 3 entries (following, "
                f"preserving, quality), got {got}"
            )
        scores: list[float] = []
        texts: list[str] = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise DataError(f"{path}: sample {key!r}: entry {i} must be an "
                                f"object, got {type(entry).__name__}")
            for field in ("Score", "Negative Prompt"):
                if field not in entry:
                    raise DataError(f"{path}: sample {key!r}: entry {i} ({PERSPECTIVES[i]}) lacks {field!r}")
            scores.append(_check_score(path, key, i, entry["Score"]))
            text = entry["Negative Prompt"]
            if not isinstance(text, str):
                raise DataError(
                    f"{path}: sample {key!r}: entry {i} ({PERSPECTIVES[i]}): 'Negative Prompt' must be a "
                    f"string, got {type(text).__name__}"
                )
            texts.append(text.strip() or "None")
        labels[str(key)] = RewardLabel(tuple(scores), tuple(texts))  # type: ignore[arg-type]
    return labels


def _checked_jsonl_score(path: Path, row: RewardRow, perspective: str, value: float) -> float:
    # The JSONL schema takes any float (NaN included); training needs the 0-5 scale the JSON path enforces.
    where = f"{path}: sample {row.sample_id!r}: {perspective}"
    if not math.isfinite(value):
        raise DataError(f"{where}: score must be a number from 0 to 5, got {value!r}")
    if not 0 <= value <= 5:
        raise DataError(f"{where}: score {value!r} is outside 0-5")
    return value


def load_rewardedit_json(path: Path) -> dict[str, RewardLabel]:
    """Read a RewardEdit-20K JSON file (see module docstring) with clear errors."""
    path = Path(path)
    return parse_rewardedit(read_json(path, what="reward file"), path)


def load_reward_jsonl(path: Path) -> list[RewardRow]:
    """Read our reward JSONL (schema-checked); a missing file is an error."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"reward file {path} does not exist")
    return read_rows(path, RewardRow)


# --------------------------------------------------------------------------------------------------
# Triplet sources
# --------------------------------------------------------------------------------------------------


class TripletImages(NamedTuple):
    """A decoded triplet."""

    source: Any  # PIL.Image.Image (kept untyped so this module imports without PIL at type-check time)
    edited: Any
    instruction: str


class TripletSource(Protocol):
    """Something that holds triplets by sample id."""

    def ids(self) -> list[str]:
        """Every sample id it holds."""
        ...

    def get(self, sample_id: str) -> TripletImages:
        """Decode one triplet."""
        ...


def _find_image(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        for cand in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if cand.is_file():
                return cand
    return None


class _FolderEntry(NamedTuple):
    source: Path
    edited: Path
    instruction_file: Path
    ip2p: bool


class FolderTriplets:
    """A folder with one sub-folder per triplet, in our layout or the InstructPix2Pix release's.

    Args:
        root: The folder.
        keys: Only these sub-folders are looked at (the reward keys to join; RewardEdit-20K names 20K of
            the release's ~300K folders, so scanning all of them would cost minutes on every start).
            Folders that are broken (instruction but no images) are then recorded in :attr:`broken`
            for the join to report, instead of failing at once.
    """

    def __init__(self, root: Path, keys: Iterable[str] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"triplet folder {self.root} does not exist")
        self._entries: dict[str, _FolderEntry] = {}
        #: Sub-folder name -> why it holds no usable triplet (only when ``keys`` was given).
        self.broken: dict[str, str] = {}
        if keys is not None:
            for key in keys:
                # A key is one folder name, never a path that leaves root.
                if not key or key in (".", "..") or "/" in key or "\\" in key:
                    continue
                sub = self.root / key
                if not sub.is_dir():
                    continue
                try:
                    entry = self._scan(sub)
                except DataError as exc:
                    self.broken[key] = str(exc)
                    continue
                if entry is not None:
                    self._entries[key] = entry
            return
        for sub in sorted(p for p in self.root.iterdir() if p.is_dir()):
            entry = self._scan(sub)
            if entry is not None:
                self._entries[sub.name] = entry
        if not self._entries:
            raise DataError(
                f"{self.root} holds no triplet folders: expected <id>/source.png + edited.png + "
                f"instruction.txt or <id>/prompt.json + <seed>_0.jpg + <seed>_1.jpg"
            )

    @staticmethod
    def _scan(sub: Path) -> _FolderEntry | None:
        if (sub / "instruction.txt").is_file():
            src, edt = _find_image(sub, "source"), _find_image(sub, "edited")
            if src is None or edt is None:
                raise DataError(f"{sub}: has instruction.txt but lacks source.* or "
                                f"edited.* ({'/'.join(IMAGE_SUFFIXES)})")
            return _FolderEntry(src, edt, sub / "instruction.txt", ip2p=False)
        if (sub / "prompt.json").is_file():
            seeds = []
            for p in sub.iterdir():
                stem = p.stem
                if p.suffix.lower() in IMAGE_SUFFIXES and stem.endswith("_0") and stem[:-2].isdigit():
                    seeds.append(int(stem[:-2]))
            for seed in sorted(seeds):
                src, edt = _find_image(sub, f"{seed}_0"), _find_image(sub, f"{seed}_1")
                if src is not None and edt is not None:
                    return _FolderEntry(src, edt, sub / "prompt.json", ip2p=True)
            raise DataError(f"{sub}: has prompt.json but no <seed>_0 / <seed>_1 image pair")
        return None

    def ids(self) -> list[str]:
        """Names of the sub-folders that hold a triplet (sorted, or in ``keys`` order)."""
        return list(self._entries) + list(self.broken)

    def some_ids(self, n: int = 3) -> list[str]:
        """A few sub-folder names (for error messages when a join matches nothing)."""
        names = []
        for p in self.root.iterdir():
            if p.is_dir():
                names.append(p.name)
                if len(names) >= n:
                    break
        return sorted(names)

    def get(self, sample_id: str) -> TripletImages:
        """Decode the triplet in sub-folder ``sample_id``."""
        entry = self._entries[sample_id]
        return TripletImages(load_image(entry.source), load_image(entry.edited), self.instruction(sample_id))

    def instruction(self, sample_id: str) -> str:
        """The edit instruction of ``sample_id`` (without decoding its images)."""
        entry = self._entries[sample_id]
        if entry.ip2p:
            prompt = read_json(entry.instruction_file, what="prompt file", max_bytes=MAX_INSTRUCTION_BYTES)
            instruction = prompt.get("edit") if isinstance(prompt, dict) else None
        else:
            instruction = read_text(entry.instruction_file, what="instruction file",
                                    max_bytes=MAX_INSTRUCTION_BYTES)
        if not isinstance(instruction, str) or not instruction.strip():
            raise DataError(f"{entry.instruction_file}: empty or missing edit instruction")
        return instruction.strip()

    def paths(self, sample_id: str) -> tuple[Path, Path]:
        """(source, edited) image paths of ``sample_id``; a broken folder raises DataError naming why."""
        if sample_id in self.broken:
            raise DataError(self.broken[sample_id])
        entry = self._entries[sample_id]
        return entry.source, entry.edited


class ManifestTriplets:
    """A JSONL manifest of ``{"id", "source", "edited", "instruction"}`` lines."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"triplet manifest {self.path} does not exist")
        base = self.path.parent
        self._rows: dict[str, tuple[Path, Path, str]] = {}
        from realedit_bench.jsonio import iter_jsonl

        for lineno, row in enumerate(iter_jsonl(self.path), 1):
            fields = ("id", "source", "edited", "instruction")
            missing = [k for k in fields if not isinstance(row.get(k), str)]
            if missing:
                raise DataError(f"{self.path}: line {lineno}: lacks string field(s) {', '.join(missing)}")
            if not row["instruction"].strip():
                raise DataError(f"{self.path}: line {lineno}: empty instruction")
            if row["id"] in self._rows:
                raise DataError(f"{self.path}: line {lineno}: duplicate id {row['id']!r}")
            self._rows[row["id"]] = (base / row["source"], base / row["edited"], row["instruction"].strip())
        if not self._rows:
            raise DataError(f"{self.path} holds no triplets")

    def ids(self) -> list[str]:
        """Ids in file order."""
        return list(self._rows)

    def get(self, sample_id: str) -> TripletImages:
        """Decode one triplet."""
        src, edt, instruction = self._rows[sample_id]
        return TripletImages(load_image(src), load_image(edt), instruction)

    def paths(self, sample_id: str) -> tuple[Path, Path]:
        """(source, edited) image paths of ``sample_id``."""
        src, edt, _ = self._rows[sample_id]
        return src, edt

    def instruction(self, sample_id: str) -> str:
        """The edit instruction of ``sample_id``."""
        return self._rows[sample_id][2]


class HFTriplets:
    """Rows of a Hugging Face InstructPix2Pix-style dataset; the id of a row is its index."""

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any]],
        source_column: str = "original_image",
        edited_column: str = "edited_image",
        instruction_column: str = "edit_prompt",
        name: str = DEFAULT_HF_DATASET,
    ) -> None:
        self.rows = rows
        self.columns = (source_column, edited_column, instruction_column)
        self.name = name
        names = getattr(rows, "column_names", None)
        if names is not None:
            absent = [c for c in self.columns if c not in names]
            if absent:
                raise DataError(f"dataset {name} lacks column(s) "
                                f"{', '.join(absent)} (has {', '.join(names)})")

    def ids(self) -> list[str]:
        """Row indices as decimal strings."""
        return [str(i) for i in range(len(self.rows))]

    def get(self, sample_id: str) -> TripletImages:
        """Decode row ``int(sample_id)``."""
        row = self.rows[int(sample_id)]
        src_col, edt_col, ins_col = self.columns
        instruction = row[ins_col]
        if not isinstance(instruction, str) or not instruction.strip():
            raise DataError(f"dataset {self.name} row {sample_id}: empty instruction")
        return TripletImages(row[src_col].convert("RGB"), row[edt_col].convert("RGB"), instruction.strip())


def load_hf_triplets(spec: str, *, split: str = "train", cache_dir: Path | None = None) -> HFTriplets:
    """Open ``hf:<dataset id>`` with the ``datasets`` library (a download of its parquet shards).

    Raises:
        ConfigError: When ``datasets`` is not installed.
    """
    name = spec[len(HF_PREFIX):] if spec.startswith(HF_PREFIX) else spec
    try:
        import datasets  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"--triplets {spec} needs the 'datasets' package (pip install datasets); or convert the data to "
            f"a folder or JSONL manifest of triplets"
        ) from exc
    from datasets import load_dataset

    try:
        ds = load_dataset(name, split=split, cache_dir=str(cache_dir) if cache_dir else None)
    except Exception as exc:  # the hub client raises many types; all mean "could not get the data"
        raise DataError(
            f"could not load dataset {name} split {split}: {exc.__class__.__name__}: {exc}"
        ) from exc
    return HFTriplets(ds, name=name)


def open_triplets(spec: str | Path, keys: Iterable[str] | None = None) -> TripletSource:
    """Open a ``--triplets`` value: ``hf:<id>``, a ``*.jsonl`` manifest, or a folder.

    ``keys``: the sample ids that will be used; a folder then looks only at those sub-folders.
    """
    text = str(spec)
    if text.startswith(HF_PREFIX):
        return load_hf_triplets(text)
    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(f"--triplets {text} does not exist")
    if path.suffix == ".jsonl":
        return ManifestTriplets(path)
    if path.is_dir():
        return FolderTriplets(path, keys=keys)
    raise DataError(f"--triplets {text}: not a folder, a .jsonl manifest, or hf:<dataset id>")


# --------------------------------------------------------------------------------------------------
# Joining labels with triplets
# --------------------------------------------------------------------------------------------------


class Example(NamedTuple):
    """One training example: where its triplet lives and its reward label."""

    sample_id: str
    triplets: Any  # a TripletSource (or _PathTriplets for our JSONL)
    label: RewardLabel


class JoinReport(NamedTuple):
    """How a reward file met its triplets (recorded in the training settings)."""

    reward_file: str
    kind: Literal["rewardedit-json", "reward-jsonl"]
    n_labels: int
    n_used: int
    n_missing: int
    n_incomplete: int
    missing_examples: list[str]
    #: Examples skipped (under allow_missing) because an image is absent or unreadable.
    n_unreadable: int = 0
    #: The first of them, as "<sample id>: <why>".
    unreadable_examples: tuple[str, ...] = ()


class _PathTriplets:
    """Triplets named by our reward JSONL rows (paths relative to the JSONL's folder)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._rows: dict[str, RewardRow] = {}

    def add(self, row: RewardRow) -> None:
        self._rows[row.sample_id] = row

    def ids(self) -> list[str]:
        return list(self._rows)

    def paths(self, sample_id: str) -> tuple[Path, Path]:
        row = self._rows[sample_id]
        return self.base / row.source, self.base / row.edited

    def get(self, sample_id: str) -> TripletImages:
        row = self._rows[sample_id]
        return TripletImages(
            load_image(self.base / row.source), load_image(self.base / row.edited), row.instruction.strip()
        )


def join_rewardedit(
    labels: Mapping[str, RewardLabel],
    triplets: TripletSource,
    *,
    reward_file: str = "",
    allow_missing: bool = False,
) -> tuple[list[Example], JoinReport]:
    """Pair each RewardEdit-20K label with its triplet by sample id.

    Raises:
        DataError: When no key matches, or some keys are missing and ``allow_missing`` is False.
    """
    have = set(triplets.ids())
    examples = [Example(k, triplets, lab) for k, lab in labels.items() if k in have]
    missing = [k for k in labels if k not in have]
    if not examples:
        sample = ", ".join(repr(k) for k in list(labels)[:3])
        peek = getattr(triplets, "some_ids", None)
        theirs = ", ".join(repr(k) for k in (sorted(have)[:3] or (peek() if peek else [])))
        raise DataError(
            f"none of the {len(labels)} reward keys of {reward_file or 'the reward file'} names a triplet "
            f"(reward keys like {sample}; triplet ids like {theirs})"
        )
    if missing and not allow_missing:
        raise DataError(
            f"{len(missing)} of {len(labels)} reward keys of {reward_file or 'the reward file'} have no "
            f"triplet (e.g. {', '.join(repr(k) for k in missing[:5])}); pass --allow-missing to train on the "
            f"{len(examples)} that do"
        )
    report = JoinReport(reward_file, "rewardedit-json", len(labels), len(examples), len(missing), 0,
                        missing[:20])
    return examples, report


def examples_from_jsonl(
    rows: Sequence[RewardRow], base: Path, *, reward_file: str = ""
) -> tuple[list[Example], JoinReport]:
    """Examples from our reward JSONL rows; rows not fully scored are skipped and counted."""
    source = _PathTriplets(Path(base))
    examples: list[Example] = []
    incomplete = 0
    for row in rows:
        label = row.label()
        if label is None:
            incomplete += 1
            continue
        for perspective, score in zip(PERSPECTIVES, label.scores, strict=True):
            _checked_jsonl_score(Path(reward_file or base), row, perspective, score)
        source.add(row)
        examples.append(Example(row.sample_id, source, label))
    if not examples:
        raise DataError(f"{reward_file or 'the reward JSONL'}: no row has all three perspectives scored")
    report = JoinReport(reward_file, "reward-jsonl", len(rows), len(examples), 0, incomplete, [])
    return examples, report


def _image_problem(triplets: Any, sample_id: str) -> str | None:
    """Why an example's images cannot be used, or None when both exist and their headers decode."""
    paths = getattr(triplets, "paths", None)
    if paths is None:  # a hub dataset: its rows hold decoded images, nothing to check on disk
        return None
    try:
        for path in paths(sample_id):
            if not Path(path).is_file():
                return f"image {path} does not exist"
            check_image_header(path)
    except DataError as exc:
        return str(exc)
    return None


def check_example_images(examples: Sequence[Example]) -> tuple[list[Example], list[str]]:
    """Split ``examples`` into those whose images are all readable and "<id>: <why>" for the rest."""
    good: list[Example] = []
    bad: list[str] = []
    for ex in examples:
        problem = _image_problem(ex.triplets, ex.sample_id)
        if problem is None:
            good.append(ex)
        else:
            bad.append(f"{ex.sample_id}: {problem}")
    return good, bad


def load_examples(
    reward_files: Sequence[Path], triplets: str | Path | None, *, allow_missing: bool = False
) -> tuple[list[Example], list[JoinReport]]:
    """Read every reward file (``.json`` RewardEdit-20K or ``.jsonl`` ours) into training examples.

    Every image an example names is checked here (exists, header decodes); with ``allow_missing`` the
    examples with a bad image are skipped and counted in their file's :class:`JoinReport`.

    Raises:
        ConfigError: A RewardEdit-20K file is given without ``triplets``.
        DataError: Malformed files, failed joins, unreadable images, duplicate sample ids across files.
    """
    if not reward_files:
        raise ConfigError("give at least one --rewards file (RewardEdit-20K .json or realedit .jsonl)")
    parsed: list[tuple[Path, Any]] = []
    wanted: list[str] = []
    for path in reward_files:
        path = Path(path).expanduser()
        if path.suffix == ".jsonl":
            parsed.append((path, load_reward_jsonl(path)))
        elif path.suffix == ".json":
            labels = load_rewardedit_json(path)
            if triplets is None:
                raise ConfigError(
                    f"{path} is RewardEdit-20K JSON, which holds no images: pass --triplets (a folder, a "
                    f".jsonl manifest, or hf:{DEFAULT_HF_DATASET})"
                )
            parsed.append((path, labels))
            wanted.extend(labels)
        else:
            raise ConfigError(f"--rewards {path}: expected a .json "
                              "(RewardEdit-20K) or .jsonl (realedit) file")
    source: TripletSource | None = None
    if wanted and triplets is not None:
        source = open_triplets(triplets, keys=dict.fromkeys(wanted))
    examples: list[Example] = []
    reports: list[JoinReport] = []
    bad_all: list[str] = []
    for path, content in parsed:
        if path.suffix == ".jsonl":
            exs, rep = examples_from_jsonl(content, path.parent, reward_file=str(path))
        else:
            assert source is not None
            exs, rep = join_rewardedit(content, source, reward_file=str(path), allow_missing=allow_missing)
        exs, bad = check_example_images(exs)
        bad_all.extend(bad)
        if bad:
            rep = rep._replace(n_used=len(exs), n_unreadable=len(bad), unreadable_examples=tuple(bad[:20]))
        examples.extend(exs)
        reports.append(rep)
    if bad_all and not allow_missing:
        shown = "; ".join(bad_all[:5])
        more = f" (and {len(bad_all) - 5} more)" if len(bad_all) > 5 else ""
        raise DataError(
            f"{len(bad_all)} training example(s) have a missing or unreadable image: {shown}{more}; fix "
            f"them, or pass --allow-missing to skip them"
        )
    if not examples:
        raise DataError(f"no training example is left: every one of the {len(bad_all)} has a bad image")
    seen: set[str] = set()
    for ex in examples:
        if ex.sample_id in seen:
            raise DataError(f"sample id {ex.sample_id!r} appears in more than one reward file")
        seen.add(ex.sample_id)
    return examples, reports


# --------------------------------------------------------------------------------------------------
# The training stream
# --------------------------------------------------------------------------------------------------


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from ``parts``: stable across processes, platforms and Python hash seeds."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def prepare_pair(
    source: Any,
    edited: Any,
    resolution: int,
    *,
    generator: Any,
    random_crop: bool = True,
    random_flip: bool = True,
) -> tuple[Any, Any]:
    """Resize the shorter side to ``resolution``, crop a square and maybe flip, identically for both images.

    Returns:
        Two float tensors ``[3, resolution, resolution]`` in [-1, 1].
    """
    import numpy as np
    import torch
    from PIL import Image

    if edited.size != source.size:
        edited = edited.resize(source.size, Image.Resampling.BICUBIC)
    w, h = source.size
    scale = resolution / min(w, h)
    size = (max(resolution, round(w * scale)), max(resolution, round(h * scale)))
    pair = [im.resize(size, Image.Resampling.BICUBIC) for im in (source, edited)]
    arr = np.stack([np.asarray(im, dtype=np.uint8) for im in pair])  # [2, H, W, 3]
    t = torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    H, W = t.shape[-2:]
    if random_crop:
        top = int(torch.randint(0, H - resolution + 1, (1,), generator=generator))
        left = int(torch.randint(0, W - resolution + 1, (1,), generator=generator))
    else:
        top, left = (H - resolution) // 2, (W - resolution) // 2
    t = t[..., top : top + resolution, left : left + resolution]
    if random_flip and bool(torch.rand((), generator=generator) < 0.5):
        t = t.flip(-1)
    return t[0].contiguous(), t[1].contiguous()


class RewardTrainingSet:
    """A map-style torch dataset indexed by draws ``(draw, example index)`` from :class:`DrawSampler`."""

    def __init__(
        self,
        examples: Sequence[Example],
        resolution: int,
        *,
        seed: int,
        random_crop: bool = True,
        random_flip: bool = True,
    ) -> None:
        if not examples:
            raise DataError("no training examples")
        self.examples = list(examples)
        self.resolution = resolution
        self.seed = seed
        self.random_crop = random_crop
        self.random_flip = random_flip

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        import torch

        draw, index = key
        ex = self.examples[index]
        try:
            images = ex.triplets.get(ex.sample_id)
        except (DataError, OSError) as exc:
            # Checked at load time, so the file changed since. Handed over as data, not raised: raised in
            # a DataLoader worker it would come back wrapped in the worker's whole traceback.
            return {"sample_id": ex.sample_id, "error": f"sample {ex.sample_id!r}: {exc}"}
        gen = torch.Generator().manual_seed(derive_seed(self.seed, "augment", draw))
        src, edt = prepare_pair(
            images.source, images.edited, self.resolution, generator=gen,
            random_crop=self.random_crop, random_flip=self.random_flip,
        )
        return {
            "sample_id": ex.sample_id,
            "source": src,
            "edited": edt,
            "instruction": images.instruction,
            "scores": torch.tensor(ex.label.scores, dtype=torch.float32),
            "texts": ex.label.texts,
        }


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of :class:`RewardTrainingSet` items into a batch (or ``{"error": ...}`` if one failed)."""
    import torch

    errors = [it["error"] for it in items if "error" in it]
    if errors:
        return {"error": errors}
    return {
        "sample_id": [it["sample_id"] for it in items],
        "source": torch.stack([it["source"] for it in items]),
        "edited": torch.stack([it["edited"] for it in items]),
        "instruction": [it["instruction"] for it in items],
        "scores": torch.stack([it["scores"] for it in items]),
        "texts": [it["texts"] for it in items],
    }


class DrawSampler:
    """Yields ``(draw, example index)`` for this process's share of draws ``start .. stop-1``.

    Draw ``k`` is example ``perm_e[k % n]`` where ``e = k // n`` and ``perm_e`` is a permutation seeded
    by (seed, e): epochs reshuffle, and the stream is the same wherever it is started. Draws are cut into
    global batches of ``batch_size``; process ``rank`` of ``world`` takes batches ``rank, rank + world, ...``
    (so ``start`` should be a multiple of ``batch_size * world``).
    """

    def __init__(
        self, n: int, seed: int, start: int, stop: int, *, batch_size: int = 1, rank: int = 0, world: int = 1
    ) -> None:
        if n <= 0:
            raise ValueError("DrawSampler needs at least one example")
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside world size {world}")
        self.n, self.seed, self.start, self.stop = n, seed, start, stop
        self.batch_size, self.rank, self.world = batch_size, rank, world

    def _perm(self, epoch: int) -> list[int]:
        import torch

        gen = torch.Generator().manual_seed(derive_seed(self.seed, "shuffle", epoch))
        return torch.randperm(self.n, generator=gen).tolist()

    def _mine(self, k: int) -> bool:
        return (k // self.batch_size) % self.world == self.rank

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, perm = -1, []
        for k in range(self.start, self.stop):
            if not self._mine(k):
                continue
            e = k // self.n
            if e != epoch:
                epoch, perm = e, self._perm(e)
            yield (k, perm[k % self.n])

    def __len__(self) -> int:
        return sum(1 for k in range(self.start, self.stop) if self._mine(k))
