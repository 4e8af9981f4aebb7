"""The gallery: one page per source image of each benchmark, the original beside every run's edit of each
of its instructions, with each judge's verdicts; and an index of the pages, searchable by instruction.

Every image is shown as a cached thumbnail that opens a larger copy (at most :data:`FULL_SIDE` pixels a
side, also cached by content) on click, so the site stays one folder that can be published without the
run directories. Benchmarks reuse image ids (MagicBrush session 2 is not Real-Edit photo 2), so a page is
one (benchmark, image id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from leaderboard.collect import REAL_EDIT, JudgedSet, RunData
from leaderboard.redact import redact
from leaderboard.render import data_block, inside, slug, write_page
from leaderboard.thumbs import Thumb, ThumbCache
from realedit_bench.datasets import Sample
from realedit_bench.errors import RealEditError
from realedit_bench.outcome import SiteCounts
from realedit_bench.schema.base import CATEGORIES, PERSPECTIVES
from realedit_bench.settings import DATA_DIR_ENV

#: Longest side of the copy an image opens at when clicked.
FULL_SIDE = 1024


class Shown(NamedTuple):
    """An image as the site shows it: its thumbnail and the larger copy a click opens."""

    thumb: Thumb | None
    full: Thumb | None


class Images:
    """The two image caches of the site: ``thumbs/`` and ``full/``."""

    def __init__(self, out: Path) -> None:
        self.thumbs = ThumbCache(out / "thumbs")
        self.full = ThumbCache(out / "full", side=FULL_SIDE)
        self._by_path: dict[tuple[Path, str | None], Shown] = {}

    def get(self, path: Path | None, sha256: str | None = None) -> Shown:
        """Both copies of ``path`` (made if absent); empty for a missing or unreadable image."""
        if path is None:
            return Shown(None, None)
        key = (path, sha256)
        if key not in self._by_path:  # a Real-Edit photo serves seven items: hash it once
            thumb = self.thumbs.get(path, sha256)
            self._by_path[key] = Shown(thumb, self.full.get(path, sha256) if thumb is not None else None)
        return self._by_path[key]

    @property
    def made(self) -> int:
        """Images made by this build (a warm build makes none)."""
        return self.thumbs.made + self.full.made

    def prune(self) -> None:
        """Delete cached images no page of this build uses."""
        self.thumbs.prune()
        self.full.prune()


@dataclass
class Card:
    """One run's edit of one item."""

    run_id: str
    model: str
    label: str
    image: Shown
    error: str | None
    judgments: list[dict]


@dataclass
class Item:
    """One instruction of a page (a MagicBrush turn), with every run's edit of it."""

    category: str
    instruction: str | None
    sample_id: str = ""
    cards: list[Card] = field(default_factory=list)
    #: This item's own source image: a MagicBrush turn K > 1 starts from the ground-truth output of turn K-1.
    source: Path | None = None
    image: Shown = Shown(None, None)
    #: Ground truth the edit is compared with (benchmarks with targets, e.g. MagicBrush).
    target: Path | None = None
    target_image: Shown = Shown(None, None)
    #: The benchmark compares this item with a ground truth (shown beside the input).
    has_target: bool = False
    #: Its id on the page (``photo.html#anchor``): made from the category, which is a run string.
    anchor: str = ""


class BenchWords(NamedTuple):
    """How the gallery names a benchmark and its parts."""

    display: str
    #: What one gallery page shows: a Real-Edit photo, a MagicBrush session.
    page: str
    #: What one section of a page shows: an instruction, a turn.
    item: str


_BENCH_WORDS: dict[str, BenchWords] = {
    "real-edit": BenchWords("Real-Edit", "Photo", "instruction"),
    "magicbrush": BenchWords("MagicBrush", "Session", "turn"),
}


def bench_words(benchmark: str) -> BenchWords:
    """Display words for ``benchmark``; a third-party benchmark shows its registry name."""
    return _BENCH_WORDS.get(benchmark, BenchWords(benchmark, "Image", "instruction"))


@dataclass
class Photo:
    """One gallery page: a source image of a benchmark and its items."""

    image_id: str
    benchmark: str = REAL_EDIT
    slug: str = ""
    source: Path | None = None
    image: Shown = Shown(None, None)
    items: dict[str, Item] = field(default_factory=dict)

    @property
    def noun(self) -> str:
        """What one page of this benchmark shows: a Real-Edit photo, a MagicBrush session."""
        return bench_words(self.benchmark).page

    @property
    def bench_label(self) -> str:
        """The benchmark's display name."""
        return bench_words(self.benchmark).display

    @property
    def item_word(self) -> str:
        """What one section of the page shows: an instruction, a turn."""
        return bench_words(self.benchmark).item

    @property
    def title(self) -> str:
        """'Photo 3', 'Session 12'."""
        return f"{self.noun} {self.image_id}"

    @property
    def ordered_items(self) -> list[Item]:
        """Real-Edit's edit types in benchmark order, then other benchmarks' types (turn2 before turn10)."""
        from realedit_bench.agreement.compute import natural_key

        rank: dict[str, int] = {c: i for i, c in enumerate(CATEGORIES)}
        return [
            self.items[c] for c in sorted(self.items, key=lambda c: (rank.get(c, len(rank)), natural_key(c)))
        ]

    def href(self, item: Item) -> str:
        """The item's address from the site root."""
        return f"gallery/{self.slug}.html#{item.anchor}"


class _BenchIndex(NamedTuple):
    """A benchmark's samples by id, or why they could not be read."""

    samples: dict[str, Sample]
    error: str | None


class _Benchmarks:
    """Loads each benchmark's samples once per (benchmark, data folder), through its own loader."""

    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir
        self._cache: dict[tuple[str, Path], _BenchIndex] = {}

    def _load(self, name: str, folder: Path) -> _BenchIndex:
        key = (name, folder)
        if key not in self._cache:
            from realedit_bench.registry import BENCHMARKS

            try:
                bench = BENCHMARKS.get(name)().load(folder)
                self._cache[key] = _BenchIndex({s.sample_id: s for s in bench.samples}, None)
            except RealEditError as exc:  # unknown benchmark, data missing or malformed
                self._cache[key] = _BenchIndex({}, str(exc))
        return self._cache[key]

    def index(self, name: str, recorded: str | None) -> _BenchIndex:
        """Samples of benchmark ``name``: from --data-dir (Real-Edit), the folder the run recorded, the
        default.

        ``--data-dir`` is the Real-Edit folder, so for Real-Edit it comes first (the recorded folder may have
        moved); for another benchmark it is only a last try. The first folder that loads wins; otherwise the
        first folder's error says what is missing, in the benchmark's own words.
        """
        from realedit_bench.settings import default_data_dir

        given = [Path(self.data_dir).expanduser()] if self.data_dir is not None else []
        rec = [Path(recorded)] if recorded else []
        tries = (
            [*given, *rec, default_data_dir(name)]
            if name == REAL_EDIT
            else [*rec, default_data_dir(name), *given]
        )
        first: _BenchIndex | None = None
        for folder in dict.fromkeys(tries):
            got = self._load(name, folder)
            if got.error is None:
                return got
            first = first or got
        assert first is not None  # tries always holds the default folder
        return first


def _plain_folder_images(root: Path) -> dict[str, Path]:
    from realedit_bench.inputs import IMAGE_SUFFIXES

    return {
        p.stem: p
        for p in sorted(root.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    }


def _no_source_warning(benchmark: str, labels: list[str], error: str | None) -> str:
    """One console line: which runs' source images are missing, the loader's reason, what to do."""
    what = "source photos" if benchmark == REAL_EDIT else f"{bench_words(benchmark).display} source images"
    why = f" ({error})" if error else ""
    hint = (
        f"; give the Real-Edit data folder with --data-dir DIR or ${DATA_DIR_ENV}"
        if benchmark == REAL_EDIT
        else ""
    )
    return f"{what} not found for {', '.join(labels)}{why}: the gallery shows edits without originals{hint}"


def no_source_warnings(no_source: dict[str, dict[str, str | None]]) -> list[str]:
    """One line per benchmark and reason: the loader's own message says what is missing and how to get it."""
    lines = []
    for bench_name, labels in sorted(no_source.items()):
        by_reason: dict[str | None, list[str]] = {}
        for label, why in labels.items():
            by_reason.setdefault(why, []).append(label)
        for why, names in by_reason.items():
            lines.append(_no_source_warning(bench_name, names, why))
    return lines


def _judgment_view(js: JudgedSet) -> dict[str, list[dict]]:
    """sample id -> compact judgments, in perspective then repeat order."""
    out: dict[str, list[dict]] = {}
    order = {p: i for i, p in enumerate(PERSPECTIVES)}
    rows = sorted(js.rows, key=lambda r: (r.sample_id, order.get(r.perspective, 9), r.repeat))
    for r in rows:
        out.setdefault(r.sample_id, []).append(
            {
                "judge": f"{r.judge} · {r.rubric}",
                "perspective": r.perspective,
                "repeat": r.repeat,
                "status": r.status,
                "verdict": r.verdict,
                "score": r.score,
                "reason": r.reason,
            }
        )
    return out


class _Entry(NamedTuple):
    """One sample of one run, as the gallery shows it."""

    sample_id: str
    image_id: str
    category: str
    instruction: str | None
    output: Path | None
    sha256: str | None
    error: str | None
    sample: Sample | None


def _judged_by_sample(run: RunData) -> dict[str, list[dict]]:
    """sample id -> the compact judgments of every judged set of ``run``."""
    judged: dict[str, list[dict]] = {}
    for js in run.judged:
        for sid, items in _judgment_view(js).items():
            judged.setdefault(sid, []).extend(items)
    return judged


def _folder_entries(run: RunData, index: _BenchIndex) -> list[_Entry]:
    """A plain folder of edited images (no manifest): the samples its judgments or file names name."""
    files = _plain_folder_images(run.root)
    seen: dict[str, tuple[str, str]] = {}
    for js in run.judged:
        for r in js.rows:
            seen.setdefault(r.sample_id, (r.image_id, r.category))
    for sid in files:
        if sid not in seen and sid in index.samples:
            seen[sid] = (index.samples[sid].image_id, index.samples[sid].category)
    entries = []
    for sid, (image_id, category) in sorted(seen.items()):
        sample = index.samples.get(sid)
        error = None if sid in files else "no edited image in the folder"
        instruction = sample.instruction if sample else None
        entries.append(_Entry(sid, image_id, category, instruction, files.get(sid), None, error, sample))
    return entries


def _run_entries(run: RunData, index: _BenchIndex) -> list[_Entry]:
    """The samples of ``run`` the gallery shows: its edit rows, or the images of a plain folder."""
    if run.manifest is None:
        return _folder_entries(run, index)
    entries = []
    for e in run.edits:
        out_path = inside(run.root, e.output) if e.status == "ok" else None
        sample = index.samples.get(e.sample_id)
        entries.append(
            _Entry(
                e.sample_id, e.image_id, e.category, e.instruction, out_path, e.output_sha256, e.error, sample
            )
        )
    return entries


def _item_of(photo: Photo, en: _Entry) -> Item:
    """The item of ``photo`` that ``en`` belongs to, filled in with what ``en`` knows of it."""
    item = photo.items.setdefault(en.category, Item(en.category, en.instruction, en.sample_id))
    if item.instruction is None:
        item.instruction = en.instruction
    if en.sample is None:
        return item
    if item.source is None and en.sample.image.is_file():
        item.source = en.sample.image
    if en.sample.target is not None:
        item.has_target = True
        if item.target is None and en.sample.target.is_file():
            item.target = en.sample.target
    return item


def _order_pages(photos: Iterable[Photo], images: Images) -> list[Photo]:
    """Pages in order, each with its slug, its items' anchors and their source and target images.

    Real-Edit first (its pages keep their plain slugs, so existing links hold), then other benchmarks by
    name; photo 2 before photo 10.
    """
    from realedit_bench.agreement.compute import natural_key

    ordered = sorted(photos, key=lambda p: (p.benchmark != REAL_EDIT, p.benchmark, natural_key(p.image_id)))
    taken: set[str] = set()
    for p in ordered:
        p.slug = slug(p.image_id if p.benchmark == REAL_EDIT else f"{p.benchmark}-{p.image_id}", taken)
        anchors: set[str] = set()
        for item in p.ordered_items:
            item.anchor = slug(item.category, anchors)
            item.image = images.get(item.source)
            item.target_image = images.get(item.target)
            if p.source is None and item.source is not None:
                # The index shows the first item's source: Real-Edit's photo, MagicBrush's session input.
                p.source, p.image = item.source, item.image
    return ordered


def collect_gallery(
    runs: Sequence[RunData],
    images: Images,
    data_dir: Path | None,
    no_source: dict[str, dict[str, str | None]] | None = None,
) -> list[Photo]:
    """The gallery's pages, one per (benchmark, source image id), in order.

    ``no_source`` collects, per benchmark, the labels of runs whose source images were not found and the
    loader's reason.
    """
    photos: dict[tuple[str, str], Photo] = {}
    benches = _Benchmarks(data_dir)
    for run in runs:
        bench_name = run.benchmark
        judged = _judged_by_sample(run)
        recorded = run.manifest.benchmark.data_dir if run.manifest is not None else None
        index = benches.index(bench_name, recorded)
        if index.error is not None and no_source is not None and (run.edits or run.manifest is None):
            no_source.setdefault(bench_name, {}).setdefault(run.label, index.error)
        for en in _run_entries(run, index):
            photo = photos.setdefault((bench_name, en.image_id), Photo(en.image_id, bench_name))
            item = _item_of(photo, en)
            error = en.error
            shown = images.get(en.output, en.sha256) if en.output is not None else Shown(None, None)
            if shown.thumb is None and error is None:
                error = "edited image missing or unreadable"
            item.cards.append(
                Card(run.label, run.model, run.display, shown, error, judged.get(en.sample_id, []))
            )
    return _order_pages(photos.values(), images)


def _search_data(photos: list[Photo]) -> list[dict[str, Any]]:
    """What the index's search looks through: every page's instructions, with their addresses."""
    return [
        {
            "title": redact(f"{p.bench_label} · {p.title}"),
            "href": f"{p.slug}.html",
            "items": [
                [redact(it.category), redact(it.instruction or ""), f"{p.slug}.html#{it.anchor}"]
                for it in p.ordered_items
            ],
        }
        for p in photos
    ]


def write_gallery(
    out: Path, env: Any, common: dict[str, Any], photos: list[Photo], result: SiteCounts
) -> None:
    """Write one page per source image and the gallery index; prune pages no longer written."""
    gdir = out / "gallery"
    written = set()
    page = env.get_template("gallery_photo.html.j2")
    for i, photo in enumerate(photos):
        items = photo.ordered_items
        # The filters offer what this page holds: a MagicBrush page has turns, not Real-Edit's edit types.
        runs = {c.run_id: c.label for it in items for c in it.cards}
        html = page.render(
            **common,
            root="../",
            photo=photo,
            prev=photos[i - 1] if i > 0 else None,
            next=photos[i + 1] if i + 1 < len(photos) else None,
            runs=sorted(runs.items(), key=lambda kv: (kv[1], kv[0])),
            categories=[it.category for it in items],
            title=photo.title,
        )
        write_page(gdir / f"{photo.slug}.html", html)
        written.add(f"{photo.slug}.html")
    groups: dict[str, list[Photo]] = {}
    for photo in photos:
        groups.setdefault(photo.benchmark, []).append(photo)
    index = env.get_template("gallery_index.html.j2").render(
        **common,
        root="../",
        groups=[(bench_words(b).display, ps) for b, ps in groups.items()],
        search=data_block(_search_data(photos)),
        title="Gallery",
    )
    write_page(gdir / "index.html", index)
    written.add("index.html")
    # Pages of photos no longer present would be stale: remove only our own .html files.
    for p in gdir.glob("*.html"):
        if p.name not in written:
            p.unlink()
    result.n_gallery_pages = len(photos)
