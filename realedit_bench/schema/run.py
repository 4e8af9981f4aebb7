"""Records of ``realedit run``: the run manifest and one row per edited sample (``edits.jsonl``)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from realedit_bench.schema.base import Row

#: Where a run stands, as its manifest records it.
RunStatus = Literal["running", "complete", "failed", "interrupted"]


class BenchmarkRef(Row):
    """Which benchmark data a run used, identified by content."""

    WRITTEN_BY: ClassVar[str] = "realedit run"

    name: str = Field(description="Benchmark name, e.g. 'real-edit'.")
    data_dir: str = Field(description="Directory the data was read from (as given).")
    instructions_sha256: str = Field(description="sha256 of the instruction file's bytes.")
    n_samples_total: int = Field(description="Samples in the benchmark before filters.")
    filters: dict[str, Any] = Field(
        default_factory=dict, description="--limit/--category/--samples as given."
    )
    n_samples_selected: int = Field(description="Samples selected after filters.")


class AdapterRef(Row):
    """The editing model and every resolved setting it used."""

    WRITTEN_BY: ClassVar[str] = "realedit run"

    name: str = Field(description="Registry name, e.g. 'instruct-pix2pix'.")
    family: str = Field(default="", description="Model family, e.g. 'instruct-pix2pix'.")
    params: dict[str, Any] = Field(description="Every resolved setting, from the adapter's params().")


class RunManifest(Row):
    """``manifest.json`` of a run directory. Never holds a secret."""

    #: 2: ``label`` is required (the leaderboard names runs by it).
    SCHEMA_VERSION: ClassVar[int] = 2
    WRITTEN_BY: ClassVar[str] = "realedit run"

    run_id: str = Field(description="Directory name of the run.")
    label: str = Field(
        description="Display name of the run: --label, else the model's name and the settings that differ "
        "from its defaults, e.g. 'instruct-pix2pix (steps=20, scheduler=ddim)'."
    )
    realedit_version: str = Field(description="Version of realedit that wrote the run.")
    git_sha: str | None = Field(default=None, description="Commit of the realedit source tree, if known.")
    command: list[str] = Field(description="The exact command line (argv) that made or last resumed the run.")
    created_at: str = Field(description="UTC time the run was first started (ISO 8601).")
    updated_at: str = Field(description="UTC time the manifest was last written.")
    benchmark: BenchmarkRef = Field(description="The data the run used.")
    adapter: AdapterRef = Field(description="The model and its settings.")
    base_seed: int = Field(description="Base seed; each sample's seed is derived from it and the sample id.")
    batch_size: int = Field(default=1, description="Samples per pipeline call.")
    num_processes: int = Field(default=1, description="Processes the samples were sharded over.")
    device: str = Field(description="Device the model ran on, e.g. 'cuda:0' or 'cpu'.")
    dtype: str = Field(description="Torch dtype of the model weights.")
    library_versions: dict[str, str] = Field(default_factory=dict, description="Versions of key libraries.")
    hardware: dict[str, Any] = Field(default_factory=dict, description="CPU/GPU description.")
    status: RunStatus = Field(
        description="complete: every sample ok; failed: some samples errored; interrupted: stopped early."
    )
    counts: dict[str, int] = Field(default_factory=dict, description="Rows by status: ok, error.")
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds: load, edit_total, wall.")
    history: list[dict[str, Any]] = Field(
        default_factory=list,
        description="One entry per invocation that made, resumed or extended the run: command, start time, "
        "filters, samples selected, status and counts after it.",
    )


class ApiCall(Row):
    """What the calls of a paid API editor for one sample sent, cost and returned."""

    WRITTEN_BY: ClassVar[str] = "realedit run"

    calls: int = Field(description="Calls sent for this sample, retries included.")
    input_tokens: int = Field(default=0, description="Input tokens the API reported (0: it reports none).")
    output_tokens: int = Field(default=0, description="Output tokens the API reported (0: it reports none).")
    cost_usd: float | None = Field(
        default=None, description="Money of this sample from the API's usage and the editor's price table "
        "(or -M price); None when no price is known.")
    model: str | None = Field(default=None, description="The model (snapshot) the API said it ran, if said.")
    returned: str | None = Field(
        default=None, description="The image as the API returned it, byte for byte, relative to the run "
        "directory (``output`` is that image resized to the source size, which the judge reads).")
    returned_format: str | None = Field(default=None, description="Format of the returned file: png, jpeg...")
    returned_size: tuple[int, int] | None = Field(default=None, description="(width, height) as returned.")


class ModelInput(Row):
    """How an editor made its model's input from the source photo (its ``prepare``): cropping ``crop_box``
    of the photo and resizing it to ``size`` (Lanczos) gives the image the model was given."""

    WRITTEN_BY: ClassVar[str] = "realedit run"

    crop_box: tuple[float, float, float, float] = Field(
        description="(left, upper, right, lower) of the region of the source the model saw, in source "
        "pixels.")
    size: tuple[int, int] = Field(description="(width, height) of the model's input.")


class EditRow(Row):
    """One line of ``edits.jsonl``: the outcome of editing one sample."""

    #: 3: ``model_input``, the crop and size of the model's input (2: ``refused`` rows and ``api`` records).
    SCHEMA_VERSION: ClassVar[int] = 3
    WRITTEN_BY: ClassVar[str] = "realedit run"

    sample_id: str = Field(description="Stable id: image stem + category, e.g. '10-local'.")
    image_id: str = Field(description="Source photo id (image stem), e.g. '10'.")
    category: str = Field(
        description="Edit type (Real-Edit: local, remove, add, texture, background, global, style)."
    )
    instruction: str = Field(description="The edit instruction.")
    source: str = Field(description="Source image file name inside the benchmark image folder.")
    status: Literal["ok", "error", "refused"] = Field(
        description="ok: an image was written; error: see 'error' (a rerun retries it); refused: the API's "
        "moderation refused the edit, a final answer of the editor (see 'error' for its words).")
    output: str | None = Field(default=None, description="Edited image path relative to the run directory.")
    output_sha256: str | None = Field(default=None, description="sha256 of the edited image file.")
    source_sha256: str | None = Field(
        default=None,
        description="sha256 of the source image file edited; a resume redoes the sample when the file has "
        "changed since (None when it was not recorded).",
    )
    seed: int = Field(description="Seed used for this sample.")
    error: str | None = Field(default=None, description="Error type and message when status is 'error'.")
    seconds: float | None = Field(
        default=None, description="Wall seconds spent on this sample (batch share)."
    )
    size: tuple[int, int] | None = Field(default=None, description="Output (width, height).")
    finished_at: str = Field(description="UTC time the row was written.")
    process_index: int = Field(default=0, description="Which process of a sharded run wrote the row.")
    api: ApiCall | None = Field(default=None, description="Calls, usage and money of a paid API editor.")
    model_input: ModelInput | None = Field(
        default=None, description="How the editor prepared the source for its model (the judge's "
        "--protocol paper sends that input); None for editors that take the photo as it is (identity, paid "
        "APIs) and for rows that are not ok.")
