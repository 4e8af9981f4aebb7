"""Record of ``realedit reproduce``: which run reproduces each method of a paper table, and why the others do
not (``<runs>/reproduction-<table>.json``). ``realedit report`` builds the reproduction page from it and
the runs it names."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from realedit_bench.schema.base import Row

#: A paper table realedit can reproduce.
TableName = Literal["table1", "table2", "table3"]
#: What became of one method of the table.
MethodStatus = Literal["reproduced", "no adapter", "missing", "not selected", "failed"]


class _ReproduceRecord(Row):
    WRITTEN_BY: ClassVar[str] = "realedit reproduce"


class HumanFigure(_ReproduceRecord):
    """A mean human 0-5 score of one method and perspective, with its 95% interval (Table 3)."""

    mean: float = Field(description="Mean over the rated edits of the per-edit mean of the raters' scores.")
    ci: tuple[float, float] | None = Field(
        default=None, description="95% cluster-bootstrap interval over source photos; None from one photo.")
    n: int = Field(description="Edits rated.")
    n_photos: int = Field(description="Source photos among them (the bootstrap's clusters).")


class MethodRecord(_ReproduceRecord):
    """One method of the paper's table and what the reproduction made of it."""

    method: str = Field(description="The method as the paper names it, e.g. 'InsPix2Pix'.")
    adapter: str | None = Field(description="realedit's editor for it; None when realedit has none.")
    status: MethodStatus = Field(
        description="reproduced: a run (and its judgments, metrics or ratings) holds its numbers; no "
        "adapter: realedit has no editor for it (the published row stays); missing: what it needs is not "
        "here "
        "(``missing`` says what); not selected: left out with --models; failed: its run or judging failed.")
    missing: str | None = Field(default=None, description="What is missing, or why it failed.")
    run: str | None = Field(default=None, description="Folder of its run, relative to the runs folder.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Every setting of its run (the manifest's adapter params).")
    human: dict[str, HumanFigure] = Field(
        default_factory=dict, description="Table 3: perspective -> the human ratings' mean of its edits.")


class ReproductionRecord(_ReproduceRecord):
    """``reproduction-<table>.json``: one reproduction of a paper table."""

    table: TableName = Field(
        description="table1 (GPT-4o judge), table2 (CLIP on MagicBrush), table3 (humans).")
    created_at: str = Field(description="UTC time written.")
    realedit_version: str = Field(description="Version of realedit.")
    command: list[str] = Field(default_factory=list, description="The reproduce command line.")
    judge: str | None = Field(default=None, description="Table 1: the judge asked with --protocol paper.")
    seed: int = Field(description="Base seed of the runs (each sample's seed derives from it).")
    samples: str = Field(description="Which samples: 'all' or the --limit / --samples given.")
    methods: list[MethodRecord] = Field(description="Every method of the table, in the paper's order.")
    human_files: list[str] = Field(default_factory=list, description="Table 3: the ratings files read.")
    notes: list[str] = Field(default_factory=list, description="Remarks of this reproduction.")
