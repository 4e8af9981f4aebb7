"""The runner of ``realedit run``: seeding, batching, resume, timing, per-sample errors and files.

Adapters only turn (image, instruction, seed) into an image. Everything that makes a run reproducible
and crash-safe lives here:

* each sample's seed is derived from (base seed, sample id), so results do not depend on order,
  batching, sharding or resume;
* one ``edits.jsonl`` row per finished sample, flushed and fsynced after its image was written
  atomically; a rerun skips samples already ``ok`` and retries those that failed;
* a failing sample (unreadable image, CUDA out of memory, ...) becomes an ``error`` row and the run
  goes on; Ctrl-C (or SIGTERM) stops after the current batch with everything so far kept;
* with several processes (``accelerate launch``) samples are sharded by index; every process appends
  to the same ``edits.jsonl`` (one ``write`` per line on an O_APPEND file) and rank 0 writes the manifest;
* an editor behind a paid API is run by :mod:`realedit_bench.remote` (calls in flight, retries, budget):
  the image as the API returned it is kept in ``returned/`` and ``images/`` holds it at the source's size,
  the one file the judge, the metrics and the report read; a moderation refusal is a ``refused`` row, final.

The steps of :func:`realedit_bench.api.run_model` around the loop (selecting samples, building and
loading the editor, claiming the run directory, relaunching under a launcher) close the module.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from realedit_bench import __version__
from realedit_bench.datasets import LoadedBenchmark, Sample, parse_sample_ids, select
from realedit_bench.editing import EditModel, ReportsSteps, coerce_overrides, edit_batch
from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.images import load_image, sha256_file
from realedit_bench.interrupt import StopRequest
from realedit_bench.jsonio import JsonlAppender, atomic_write_bytes, atomic_write_json, read_model, read_rows
from realedit_bench.launch import command_to_relaunch, launch, launch_command
from realedit_bench.outcome import (
    EXIT_INTERRUPTED,
    EXIT_SOME_FAILED,
    RunOutcome,
    RunPlan,
    report_phase,
    step_reporter,
)
from realedit_bench.provenance import command_line, git_sha, library_versions, utc_now
from realedit_bench.redact import mask_secrets
from realedit_bench.registry import PYTHON_PREFIX
from realedit_bench.remote import RemoteReport, is_remote
from realedit_bench.schema.run import (
    AdapterRef,
    ApiCall,
    BenchmarkRef,
    EditRow,
    ModelInput,
    RunManifest,
    RunStatus,
)
from realedit_bench.settings import check_out_dir

if TYPE_CHECKING:
    from realedit_bench.remote import RemoteEditModel
    from realedit_bench.remote import Result as RemoteResult

#: The lock file a ``realedit run`` holds in its run directory (one writer at a time).
RUN_LOCK = ".realedit-run.lock"
#: Stop a run when this many samples in a row fail and none has succeeded: the setup is broken.
MAX_LEADING_FAILURES = 20


def derive_seed(base_seed: int, sample_id: str) -> int:
    """A 31-bit seed from (base seed, sample id), independent of order, sharding and resume."""
    digest = hashlib.sha256(f"{base_seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def run_id_for(model: str, benchmark: str, params: dict[str, Any], base_seed: int) -> str:
    """Default run id: model, benchmark and a short hash of every setting (device excluded)."""
    key = {k: v for k, v in params.items() if k != "device"}
    digest = hashlib.sha256(json.dumps([key, base_seed, benchmark], sort_keys=True, default=str).encode())
    return f"{model}-{benchmark}-{digest.hexdigest()[:8]}"


class RunResult(NamedTuple):
    """What a run did in this invocation."""

    run_dir: Path
    done_before: int
    ok: int
    errors: int
    interrupted: bool
    refused: int = 0
    #: Calls, money and any early stop of a paid API editor (None for a local editor).
    remote: RemoteReport | None = None


def run_status(counts: Mapping[str, int], interrupted: bool) -> RunStatus:
    """complete when every sample has its final answer (an edit, or an API's refusal), else failed."""
    if interrupted:
        return "interrupted"
    return "complete" if counts["ok"] + counts.get("refused", 0) == sum(counts.values()) else "failed"


class _Tally:
    """Rows as they are written: appended, counted and shown; a setup that fails from the start stops."""

    def __init__(self, out: JsonlAppender, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.out, self.progress, self.total = out, progress, total
        self.ok = self.errors = self.refused = self.leading_failures = 0

    def record(self, row: EditRow) -> None:
        """Write one row and count it."""
        self.out.append(row)
        if row.status == "error":
            self.errors += 1
            self.leading_failures += 1
        else:
            self.ok += row.status == "ok"
            self.refused += row.status == "refused"
            self.leading_failures = 0
        if self.progress:
            self.progress(1, self.total)

    def check(self, last: EditRow) -> None:
        """Stop when the first :data:`MAX_LEADING_FAILURES` samples all failed: the setup is broken."""
        if self.ok == 0 and self.leading_failures >= MAX_LEADING_FAILURES:
            raise RealEditError(
                f"the first {self.leading_failures} samples all failed (last: {last.error}); stopping"
            )


def _hardware(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(),
                            "processor": platform.processor() or platform.machine()}
    if device.startswith("cuda"):
        import torch

        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


def _change(key: str, old: Any, new: Any) -> str:
    """'steps: 2 -> 3' (long values shortened), for the message that refuses to mix runs."""
    def short(v: Any) -> str:
        text = json.dumps(v, default=str) if not isinstance(v, str) else v
        return text if len(text) <= 60 else text[:57] + "..."
    return f"{key}: {short(old)} -> {short(new)}"


def _done_rows(edits: Path, run_dir: Path, sources: dict[str, str] | None = None) -> dict[str, EditRow]:
    """Rows of samples already finished: ok with the image still on disk, or refused by a paid API's
    moderation (the editor's final answer); the last row per sample wins.

    With ``sources`` (sample id -> sha256 of its source file now), a row made from another version of its
    source photo (the data was repaired or changed since) is not done: its edit no longer matches the data.
    """
    latest = {r.sample_id: r for r in read_rows(edits, EditRow)}
    sources = sources or {}
    return {
        sid: r for sid, r in latest.items()
        if (r.status == "refused" or r.status == "ok" and r.output and (run_dir / r.output).is_file())
        and sources.get(sid, r.source_sha256) == r.source_sha256
    }


def _compact(edits: Path, keep: dict[str, EditRow]) -> None:
    """Rewrite ``edits.jsonl`` with only the finished rows, so retried samples leave no duplicate."""
    lines = [json.dumps(r.model_dump(mode="json"), ensure_ascii=False, sort_keys=True) for r in keep.values()]
    atomic_write_bytes(edits, ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))


class Runner:
    """Run one editing model over selected benchmark samples into a run directory.

    Args:
        model: The adapter instance.
        model_name: Registry name of the adapter.
        family: Adapter family (for the manifest).
        bench: The loaded benchmark.
        samples: Samples to run (already filtered).
        filters: The filters as given, for the manifest.
        run_dir: Output directory of this run.
        base_seed: Base seed.
        batch_size: Samples per pipeline call.
        force: Redo every selected sample even if finished.
        process_index: This process's index among ``num_processes`` (sharding).
        num_processes: Number of processes sharing the run.
        label: The run's display name as given (``--label``); None keeps the one the manifest on disk
            holds, else ``default_label``.
        default_label: The display name when none is given or kept (default: ``model_name``).
        max_cost: USD a paid API editor may spend in this invocation (``--max-cost``), or None.
    """

    def __init__(
        self,
        model: EditModel,
        *,
        model_name: str,
        family: str,
        bench: LoadedBenchmark,
        samples: Sequence[Sample],
        filters: dict[str, Any],
        run_dir: Path,
        base_seed: int = 0,
        batch_size: int = 1,
        force: bool = False,
        process_index: int = 0,
        num_processes: int = 1,
        label: str | None = None,
        default_label: str | None = None,
        max_cost: float | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError("--batch-size must be >= 1")
        self.model = model
        self.model_name = model_name
        self.family = family
        self.bench = bench
        self.samples = list(samples)
        self.filters = filters
        self.run_dir = Path(run_dir)
        self.base_seed = base_seed
        self.batch_size = batch_size
        self.force = force
        self.process_index = process_index
        self.num_processes = num_processes
        self.label = label
        self.default_label = default_label or model_name
        self.max_cost = max_cost
        self.edits_path = self.run_dir / "edits.jsonl"
        self.manifest_path = self.run_dir / "manifest.json"
        self._started = utc_now()
        # Timestamps have one-second resolution; two quick invocations must still be two history entries.
        self._invocation = uuid.uuid4().hex[:12]
        #: Settings in which an existing run differs, when --force replaces it (see check_existing).
        self.replaces: list[str] = []
        #: sha256 of the selected samples' source files, read when the loop starts.
        self._sources: dict[str, str] = {}
        self._load_seconds = 0.0

    # -- manifest ------------------------------------------------------------------------------------
    def _manifest(self, status: RunStatus, counts: dict[str, int], timings: dict[str, float]) -> RunManifest:
        params = self.model.params()
        created = utc_now()
        history: list[dict[str, Any]] = []
        label = self.label or self.default_label
        if self.manifest_path.exists():
            old = read_model(self.manifest_path, RunManifest)
            created, history = old.created_at, list(old.history)
            label = self.label or old.label  # a resume without --label keeps the run's name
        # One entry per invocation (resume, extension, --force), so no command that shaped the run is lost.
        entry = {"invocation": self._invocation, "command": command_line(), "started_at": self._started,
                 "updated_at": utc_now(), "filters": self.filters, "n_selected": len(self.samples),
                 "status": status, "counts": counts}
        if history and history[-1].get("invocation") == self._invocation:
            history[-1] = entry
        else:
            history.append(entry)
        return RunManifest(
            run_id=self.run_dir.name,
            label=label,
            realedit_version=__version__,
            git_sha=git_sha(),
            command=command_line(),
            created_at=created,
            updated_at=utc_now(),
            benchmark=BenchmarkRef(
                name=self.bench.name,
                data_dir=str(Path(self.bench.data_dir).resolve()),
                instructions_sha256=self.bench.content_sha256,
                n_samples_total=len(self.bench.samples),
                filters=self.filters,
                n_samples_selected=len(self.run_sample_ids()),
            ),
            adapter=AdapterRef(name=self.model_name, family=self.family, params=params),
            base_seed=self.base_seed,
            batch_size=self.batch_size,
            num_processes=self.num_processes,
            device=str(params.get("device", "cpu")),
            dtype=str(params.get("dtype", "")),
            library_versions=library_versions(),
            hardware=_hardware(str(params.get("device", "cpu"))),
            status=status,
            counts=counts,
            timings=timings,
            history=history,
        )

    def check_existing(self) -> None:
        """Refuse to mix runs: an existing run directory must have the same model, settings and seed.

        With ``--force`` and other settings the old run is replaced as a whole when the loop starts (see
        ``_discard_old_run``): keeping the unselected samples' images would leave a run whose
        manifest describes settings that made only some of its images.
        """
        if not self.manifest_path.exists():
            return
        differ = self.settings_that_differ()
        if differ and self.force:
            self.replaces = differ
        elif differ:
            raise ConfigError(
                f"run directory {self.run_dir} holds a run with other settings ({'; '.join(differ)}); pass "
                "another --run-id, or --force to replace that run (its images are deleted, "
                "its records moved to replaced/)"
            )

    def settings_that_differ(self) -> list[str]:
        """Names of the settings in which this run differs from the manifest on disk."""
        old = read_model(self.manifest_path, RunManifest)
        new_params = {k: v for k, v in self.model.params().items() if k != "device"}
        old_params = {k: v for k, v in old.adapter.params.items() if k != "device"}
        new_params = json.loads(json.dumps(new_params, default=str))
        differ = [_change(k, old_params[k], new_params[k]) for k in sorted(new_params)
                  if k in old_params and old_params[k] != new_params[k]]
        differ += [f"{k} (not recorded in the run)" for k in sorted(new_params) if k not in old_params]
        differ += [f"{k} (no longer a setting)" for k in sorted(old_params) if k not in new_params]
        if old.adapter.name != self.model_name:
            differ.insert(0, _change("model", old.adapter.name, self.model_name))
        if old.base_seed != self.base_seed:
            differ.append(_change("seed", old.base_seed, self.base_seed))
        if old.benchmark.instructions_sha256 != self.bench.content_sha256:
            differ.append("benchmark data (instructions changed)")
        return differ

    def write_manifest(self, status: RunStatus, counts: dict[str, int], timings: dict[str, float]) -> None:
        """Write ``manifest.json`` atomically (rank 0 only)."""
        if self.process_index == 0:
            atomic_write_json(self.manifest_path, self._manifest(status, counts, timings))

    def finish_sharded(self, load_seconds: float) -> None:
        """All processes wait; rank 0 then writes the final manifest from the merged rows."""
        self.barrier()
        if self.process_index == 0:
            counts = self.counts()
            self.write_manifest(run_status(counts, False), counts, {"load": round(load_seconds, 3)})

    # -- the loop ------------------------------------------------------------------------------------
    def run(
        self, progress: Callable[[int, int], None] | None = None, *, load_seconds: float = 0.0
    ) -> RunResult:
        """Edit every selected sample not yet done. ``progress(advance, total)`` is called once the samples
        to do are known (advance 0), then per sample."""
        done, mine = self._todo()
        if progress:
            progress(0, len(mine))
        self.write_manifest("running", self.counts(), {"load": load_seconds})
        self._load_seconds = load_seconds
        started = time.perf_counter()
        remote: RemoteReport | None = None
        current = "the sample being edited" if self.batch_size == 1 else "the batch being edited"
        if is_remote(self.model):
            current = "the API calls in flight"
        stopping = StopRequest(lambda: current, self._mark_interrupted)
        with JsonlAppender(self.edits_path) as out, stopping as stop:
            tally = _Tally(out, progress, len(mine))
            try:
                if is_remote(self.model):
                    remote = self._run_remote(mine, tally, stop)
                    interrupted = stop.requested is not None and remote.not_dispatched > 0
                else:
                    interrupted = self._run_local(mine, tally, stop)
            except KeyboardInterrupt:  # a second Ctrl-C: stop now, but still record what was done
                interrupted = True
        edit_total = time.perf_counter() - started
        counts = self.counts()
        status = run_status(counts, interrupted or bool(remote and remote.stopped))
        if self.num_processes == 1:
            self.write_manifest(
                status, counts, {"load": round(load_seconds, 3), "edit_total": round(edit_total, 3)}
            )
        return RunResult(self.run_dir, len(done), tally.ok, tally.errors, interrupted, tally.refused, remote)

    def _todo(self) -> tuple[dict[str, EditRow], list[Sample]]:
        """The samples finished before, and this process's share of the rest (rows to redo dropped)."""
        if self.replaces and self.process_index == 0:
            self._discard_old_run()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "images").mkdir(exist_ok=True)
        sources = self._source_shas()
        if self.force and self.process_index == 0 and self.edits_path.exists():
            selected = {s.sample_id for s in self.samples}
            kept = {k: v for k, v in _done_rows(self.edits_path, self.run_dir).items() if k not in selected}
            _compact(self.edits_path, kept)
        if self.process_index == 0:
            # Drop error rows (and rows of deleted images or changed sources) that will be redone: no
            # duplicates.
            done = _done_rows(self.edits_path, self.run_dir, sources)
            all_rows = read_rows(self.edits_path, EditRow) if self.edits_path.exists() else []
            if len(all_rows) != len(done):
                _compact(self.edits_path, done)
        # Every process must shard the same to-do list: read it after rank 0 compacted, and let nobody
        # append a row before everyone has read.
        self.barrier()
        done = _done_rows(self.edits_path, self.run_dir, sources)
        todo = [s for s in self.samples if s.sample_id not in done]
        self.barrier()
        return done, todo[self.process_index :: self.num_processes]

    def _run_local(self, mine: Sequence[Sample], tally: _Tally, stop: StopRequest) -> bool:
        """Edit batch by batch; True when Ctrl-C or SIGTERM stopped it before the end."""
        for start in range(0, len(mine), self.batch_size):
            if stop.requested is not None:
                return True
            rows = self._run_batch(mine[start : start + self.batch_size])
            for row in rows:
                tally.record(row)
            tally.check(rows[-1])
        return False

    def _run_remote(self, mine: Sequence[Sample], tally: _Tally, stop: StopRequest) -> RemoteReport:
        """Send every sample to a paid API editor (see :mod:`realedit_bench.remote`)."""
        import asyncio
        import functools

        from realedit_bench.remote import Job, run_remote

        by_id = {s.sample_id: s for s in mine}
        jobs = [Job(s.sample_id, s.instruction, derive_seed(self.base_seed, s.sample_id),
                    functools.partial(load_image, s.image)) for s in mine]
        return asyncio.run(run_remote(
            cast("RemoteEditModel", self.model), jobs,
            lambda result: tally.record(self._remote_row(by_id[result.job.sample_id], result)),
            max_cost=self.max_cost, failure_streak=MAX_LEADING_FAILURES,
            stopped=lambda: stop.requested is not None,
        ))

    def _remote_row(self, s: Sample, result: RemoteResult) -> EditRow:
        """The row of one API edit: the file as returned kept in ``returned/``, the judged view in
        ``images/`` (the source's size), the calls and money in ``api``."""
        from realedit_bench.remote import judged_view

        seed = result.job.seed
        api = ApiCall(calls=result.calls, cost_usd=result.cost_usd)
        edit = result.edit
        if edit is None or result.source_size is None:
            return EditRow(
                sample_id=s.sample_id, image_id=s.image_id, category=s.category, instruction=s.instruction,
                source=s.image.name, status="refused" if result.status == "refused" else "error", seed=seed,
                error=(result.error or "")[:500], seconds=round(result.seconds, 4),
                source_sha256=self._sources.get(s.sample_id), finished_at=utc_now(),
                process_index=self.process_index, api=api,
            )
        returned = f"returned/{s.sample_id}.{'jpg' if edit.format == 'jpeg' else edit.format}"
        atomic_write_bytes(self.run_dir / returned, edit.data)
        row = self._save(s, seed, judged_view(edit, result.source_size), result.seconds)
        api = api.model_copy(update={
            "input_tokens": edit.input_tokens, "output_tokens": edit.output_tokens, "model": edit.model,
            "returned": returned, "returned_format": edit.format, "returned_size": edit.size})
        return row.model_copy(update={"api": api})

    def _mark_interrupted(self) -> None:
        """At the first Ctrl-C or SIGTERM, before the current batch ends: the manifest says ``interrupted``
        at once, so a process killed in its grace period (a scheduler's SIGKILL) does not leave it
        ``running``."""
        try:
            self.write_manifest("interrupted", self.counts(), {"load": round(self._load_seconds, 3)})
        except (RealEditError, OSError):  # best effort; the loop writes it again when it stops
            pass

    def _discard_old_run(self) -> None:
        """Set the replaced run aside: its images are deleted (they can be remade); its manifest, edits,
        judgments and metrics move to ``replaced/<time>/`` (small, and judgments cost money), where no
        reader looks, so no number of the new run can come from the old images."""
        import shutil

        # The manifest moves last: a crash half-way must not leave old edits under no manifest (the next
        # run would adopt them). Rating sheets show the old images: they go too.
        keep = [self.edits_path, self.run_dir / "judgments", self.run_dir / "ratings",
                self.run_dir / "metrics.jsonl", self.run_dir / "metrics_summary.json", self.manifest_path]
        archive = self.run_dir / "replaced" / self._started.replace(":", "")
        for path in keep:
            if path.exists():
                archive.mkdir(parents=True, exist_ok=True)
                shutil.move(str(path), str(archive / path.name))
        shutil.rmtree(self.run_dir / "images", ignore_errors=True)
        shutil.rmtree(self.run_dir / "returned", ignore_errors=True)

    def _source_shas(self) -> dict[str, str]:
        """sha256 of each selected sample's source file now (read once per file; a photo has 7 samples)."""
        by_path: dict[Path, str] = {}
        out: dict[str, str] = {}
        for s in self.samples:
            path = Path(s.image)
            if path not in by_path:
                try:
                    by_path[path] = sha256_file(path)
                except RealEditError:  # missing or unreadable: that sample's error row says why
                    continue
            if path in by_path:
                out[s.sample_id] = by_path[path]
        self._sources = out
        return out

    def run_sample_ids(self) -> list[str]:
        """Every sample this run directory holds or was asked for: earlier invocations may have
        selected other samples (``--limit 10`` then ``--limit 560``) and the manifest speaks for all."""
        ids = {r.sample_id for r in read_rows(self.edits_path, EditRow)} | {s.sample_id for s in self.samples}
        return sorted(ids)

    def counts(self) -> dict[str, int]:
        """Samples of the run by outcome: ok, error (last attempt failed), not_run (never reached), and
        refused (by a paid API's moderation; only when some were)."""
        latest = {r.sample_id: r for r in read_rows(self.edits_path, EditRow)}
        done = _done_rows(self.edits_path, self.run_dir)
        ids = self.run_sample_ids()
        n_ok = sum(1 for sid in ids if sid in done and done[sid].status == "ok")
        n_refused = sum(1 for sid in ids if sid in done and done[sid].status == "refused")
        n_err = sum(1 for sid in ids if sid not in done and sid in latest and latest[sid].status == "error")
        counts = {"ok": n_ok, "error": n_err, "not_run": len(ids) - n_ok - n_err - n_refused}
        return {**counts, "refused": n_refused} if n_refused else counts

    def barrier(self) -> None:
        """Wait for every process of a sharded run (no-op for one process).

        Plain ``torch.distributed`` with gloo: it needs no GPU, and accelerate's PartialState does not
        set up a process group for CPU processes started by torchrun (its barrier is then a no-op).
        """
        if self.num_processes <= 1:
            return
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="gloo")
        dist.barrier()

    def _run_batch(self, batch: Sequence[Sample]) -> list[EditRow]:
        """Edit a batch; a failing batch call is retried sample by sample to isolate the culprit."""
        rows: dict[str, EditRow] = {}
        ready: list[tuple[Sample, Any, int]] = []
        for s in batch:
            seed = derive_seed(self.base_seed, s.sample_id)
            try:
                ready.append((s, load_image(s.image), seed))
            except RealEditError as exc:
                rows[s.sample_id] = self._error_row(s, seed, exc, 0.0)
        if ready:
            t0 = time.perf_counter()
            try:
                outs = edit_batch(self.model, [r[1] for r in ready], [r[0].instruction for r in ready],
                                  [r[2] for r in ready])
                share = (time.perf_counter() - t0) / len(ready)
                for (s, source, seed), im in zip(ready, outs, strict=True):
                    rows[s.sample_id] = self._save(s, seed, im, share, self._model_input(source))
            except Exception as exc:  # noqa: BLE001 - a per-sample failure is data, see module doc
                _free_cuda(exc)
                if len(ready) == 1:
                    s, _, seed = ready[0]
                    rows[s.sample_id] = self._error_row(s, seed, exc, time.perf_counter() - t0)
                else:
                    for s, im, seed in ready:
                        t1 = time.perf_counter()
                        try:
                            out = edit_batch(self.model, [im], [s.instruction], [seed])[0]
                            rows[s.sample_id] = self._save(s, seed, out, time.perf_counter() - t1,
                                                           self._model_input(im))
                        except Exception as exc2:  # noqa: BLE001
                            _free_cuda(exc2)
                            rows[s.sample_id] = self._error_row(s, seed, exc2, time.perf_counter() - t1)
        return [rows[s.sample_id] for s in batch]

    def _model_input(self, source: Any) -> ModelInput | None:
        """How the editor prepares ``source`` for its model (its ``prepare``); None when it has none."""
        prepare = getattr(self.model, "prepare", None)
        if not callable(prepare):
            return None
        prepared = prepare(source)
        left, top, right, lower = (float(v) for v in prepared.crop_box)
        width, height = prepared.size
        return ModelInput(crop_box=(left, top, right, lower), size=(int(width), int(height)))

    def _save(self, s: Sample, seed: int, image: Any, seconds: float,
              model_input: ModelInput | None = None) -> EditRow:
        import io

        buf = io.BytesIO()
        image.save(buf, format="PNG")
        data = buf.getvalue()
        rel = f"images/{s.sample_id}.png"
        atomic_write_bytes(self.run_dir / rel, data)
        return EditRow(
            sample_id=s.sample_id, image_id=s.image_id, category=s.category, instruction=s.instruction,
            source=s.image.name, status="ok", output=rel, output_sha256=hashlib.sha256(data).hexdigest(),
            source_sha256=self._sources.get(s.sample_id),
            seed=seed, seconds=round(seconds, 4), size=image.size, finished_at=utc_now(),
            process_index=self.process_index, model_input=model_input,
        )

    def _error_row(self, s: Sample, seed: int, exc: BaseException, seconds: float) -> EditRow:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return EditRow(
            sample_id=s.sample_id, image_id=s.image_id, category=s.category, instruction=s.instruction,
            source=s.image.name, status="error", seed=seed,
            error=mask_secrets(f"{exc.__class__.__name__}: {message}")[:500], seconds=round(seconds, 4),
            finished_at=utc_now(), process_index=self.process_index,
        )


def _free_cuda(exc: BaseException) -> None:
    """After a CUDA out-of-memory error, release cached blocks so the next sample can proceed."""
    if "OutOfMemory" in exc.__class__.__name__:
        try:
            import torch

            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - best effort
            pass


# -- the steps of realedit_bench.api.run_model ------------------------------------------------------------


def select_samples(
    bench: LoadedBenchmark,
    *,
    limit: int | None,
    categories: Sequence[str] | None,
    samples: str | Sequence[str] | None,
) -> list[Sample]:
    """The samples a run is asked for; selecting none is an error (nothing would be run)."""
    chosen = select(bench.samples, limit=limit, categories=categories, sample_ids=parse_sample_ids(samples))
    if not chosen:
        raise ConfigError("the filters select no sample")
    return chosen


def recorded_filters(
    limit: int | None, categories: Sequence[str] | None, samples: str | Sequence[str] | None
) -> dict[str, Any]:
    """The filters as the manifest records them (``samples`` as given)."""
    return {"limit": limit, "category": list(categories or []) or None, "samples": samples}


def check_run_options(num_processes: int, run_id: str | None, *, remote: bool = False) -> None:
    """Refuse a process count below one (or above one for a ``remote`` paid editor, whose budget and
    concurrency are one process's) and a run id that is not a plain folder name."""
    if num_processes < 1:
        raise ConfigError("--num-processes must be >= 1")
    if remote and num_processes > 1:
        raise ConfigError("an editor behind a paid API runs in one process: leave out --num-processes and "
                          "set -M concurrency=N for more calls in flight")
    if run_id is not None and (
        not run_id.strip() or run_id in {".", ".."} or "/" in run_id or "\\" in run_id
    ):
        raise ConfigError(f"--run-id {run_id!r} must be a plain folder name (no '/', not '.' or '..')")


class Processes(NamedTuple):
    """This process among those a launcher started (one process without a launcher)."""

    world: int
    rank: int
    local_rank: int

    @classmethod
    def from_env(cls) -> Processes:
        """Read ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` as ``accelerate launch`` and torchrun set them."""
        env = (("WORLD_SIZE", "1"), ("RANK", "0"), ("LOCAL_RANK", "0"))
        return cls(*(int(os.environ.get(k, default)) for k, default in env))

    def device(self, device: str) -> str:
        """``auto`` in a sharded run is this process's own GPU (or the CPU without one)."""
        if self.world > 1 and device == "auto":
            import torch

            return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"
        return device


def relaunch(num_processes: int, argv: Sequence[str] | None) -> int:
    """Run the command line ``argv`` in ``num_processes`` processes and return their exit code.

    One process per GPU through ``accelerate launch``; without a GPU per process, plain torchrun
    processes on the CPU (gloo), e.g. to check sharding.
    """
    args = command_to_relaunch(argv, num_processes, "run")
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() >= num_processes:
        launcher = ["accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
                    "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    else:
        launcher = ["torch.distributed.run", "--standalone", "--nproc_per_node", str(num_processes)]
    return launch(launch_command(launcher, args))


def build_editor(
    adapter_cls: type[Any],
    model: str,
    settings: Mapping[str, object],
    *,
    weights: str | None,
    revision: str | None,
    device: str,
    dtype: str,
) -> EditModel:
    """Build the editor from its settings (``-M key=value``: strings are converted to the setting's type).

    The generic options (device, dtype, weights, revision) go only to a constructor that takes them: a
    third-party editor may accept none. An option the user gave that the editor cannot take, or a
    constructor that refuses its arguments, is one line, not a traceback.
    """
    import inspect

    as_typed = {k: v if isinstance(v, str) else str(v) for k, v in settings.items()}
    kwargs = coerce_overrides(adapter_cls, as_typed)
    explicit = {"weights": weights, "revision": revision}
    kwargs.update({k: v for k, v in explicit.items() if v is not None})
    kwargs.setdefault("device", device)
    kwargs.setdefault("dtype", dtype)
    params = inspect.signature(adapter_cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in ("device", "dtype", "weights", "revision"):
        if key in kwargs and not takes_any and key not in params:
            if explicit.get(key) is not None:
                raise ConfigError(f"model {model!r} takes no --{key}")
            kwargs.pop(key)
    try:
        return cast(EditModel, adapter_cls(**kwargs))
    except TypeError as exc:
        raise ConfigError(f"model {model!r} could not be built with {sorted(kwargs)}: {exc}") from exc


def editor_name(model: str, adapter_cls: type[Any]) -> str:
    """The name a run records: the registered name, or for ``python:module:Class`` the class's own name
    (its ``name`` attribute, else the class name), so the run directory is a plain folder name."""
    if model.startswith(PYTHON_PREFIX):
        return str(getattr(adapter_cls, "name", None) or getattr(adapter_cls, "__name__", model))
    return model


def check_paid_options(editor: EditModel, model: str, *, dry_run: bool, max_cost: float | None) -> None:
    """Before any work: a paid editor's key (unless a dry run, which sends nothing), and ``--max-cost``,
    which needs a paid editor with a price."""
    if not is_remote(editor):
        if max_cost is not None:
            raise ConfigError(f"--max-cost applies to editors behind a paid API; {model!r} runs locally")
        return
    remote = cast("RemoteEditModel", editor)
    if not dry_run:
        remote.check_key()
    if max_cost is not None:
        if max_cost <= 0:
            raise ConfigError(f"--max-cost must be more than 0, got {max_cost:g}")
        if remote.estimate_cost((1024, 1024)) is None:
            raise ConfigError(f"--max-cost needs a price for {model!r}, which has none for "
                              f"{remote.params().get('model')}; pass -M price=USD (per edit)")


def plan_run(runner: Runner, model: str) -> RunPlan:
    """A dry run: the selected samples not done yet and, for a paid editor, what they would cost (a run
    directory of other settings is refused as a real run would refuse it)."""
    from PIL import Image

    runner.check_existing()
    done = _done_rows(runner.edits_path, runner.run_dir) if runner.edits_path.exists() else {}
    todo = [s for s in runner.samples if s.sample_id not in done]
    plan = RunPlan(editor=model, to_do=len(todo), done_before=len(runner.samples) - len(todo))
    if not is_remote(runner.model):
        return plan
    remote = cast("RemoteEditModel", runner.model)
    estimates = []
    for s in todo:
        try:
            with Image.open(s.image) as im:  # the header only: no pixels are read
                estimates.append(remote.estimate_cost(im.size))
        except OSError:  # an unreadable photo becomes an error row, sent nowhere
            continue
    plan.cost_line = remote.cost_line()
    if todo and all(e is not None for e in estimates):
        plan.cost_usd = sum(e or 0.0 for e in estimates)
        plan.max_edit_usd = max(e or 0.0 for e in estimates)
    elif not todo:
        plan.cost_usd = plan.max_edit_usd = 0.0
    return plan


def claim_run_dir(runner: Runner, log: Callable[[str], None] | None) -> None:
    """On the main process, holding the run directory, before the model loads: refuse to mix runs."""
    runner.check_existing()
    if runner.replaces and log is not None:
        log(f"--force: replacing the run in {runner.run_dir} ({', '.join(runner.replaces)} differ); its "
            "images are deleted; its manifest, edits, judgments and metrics move to replaced/")


def hold_and_run(
    runner: Runner, editor: EditModel, out: Path, *, wait_for_lock: bool, log: Callable[[str], None] | None,
    on_progress: Callable[[int, int | None], None] | None,
) -> RunOutcome:
    """Hold the run directory (one writer at a time: a second ``realedit run`` on it says who writes it and
    stops, or waits), refuse to mix runs, load the editor and run to the end.

    Only the main process of a sharded run holds the lock (``<run dir>/.realedit-run.lock``). A run
    directory made only to hold it is removed again when the model fails to load or the load is stopped.
    """
    if runner.process_index != 0:
        return _load_and_run(runner, editor, on_progress)
    from realedit_bench.locks import folder_lock

    check_out_dir(out, "--out")
    made = not runner.run_dir.exists()
    try:
        with folder_lock(runner.run_dir, RUN_LOCK, "realedit run", wait=wait_for_lock, log=log):
            claim_run_dir(runner, log)
            outcome = _load_and_run(runner, editor, on_progress)
    finally:
        if made:
            _remove_if_unused(runner.run_dir)
    return outcome


def _load_and_run(runner: Runner, editor: EditModel,
                  on_progress: Callable[[int, int | None], None] | None) -> RunOutcome:
    if runner.process_index == 0:
        loading = editor.params().get("weights")
        report_phase(on_progress, f"loading {loading}" if loading else "loading the model")
    load_seconds = load_editor(editor)
    if load_seconds is None:
        return RunOutcome(exit_code=EXIT_INTERRUPTED, note="stopped by Ctrl-C or SIGTERM while loading the "
                                                           "model; nothing was run")
    return run_to_end(runner, load_seconds, on_progress)


def _remove_if_unused(run_dir: Path) -> None:
    """Remove a run directory that holds nothing but its lock file (the run never started)."""
    try:
        if [p.name for p in run_dir.iterdir()] == [RUN_LOCK]:
            (run_dir / RUN_LOCK).unlink()
            run_dir.rmdir()
    except OSError:  # in use again, or gone: leave it
        pass


def load_editor(editor: EditModel) -> float | None:
    """Load the editor's weights (when it has a ``load``); the seconds it took, or None after Ctrl-C."""
    t0 = time.perf_counter()
    try:
        load = getattr(editor, "load", None)
        if load is not None:
            load()
    except KeyboardInterrupt:
        return None
    return time.perf_counter() - t0


def _counting(on_progress: Callable[[int, int | None], None]) -> Callable[[int, int], None]:
    """The runner's ``progress(advance, total)`` as ``on_progress(done, total)``."""
    done = [0]

    def advance(n: int, total: int) -> None:
        done[0] += n
        on_progress(done[0], total)

    return advance


def run_to_end(
    runner: Runner, load_seconds: float, on_progress: Callable[[int, int | None], None] | None
) -> RunOutcome:
    """Make the run directory, edit every sample not yet done, and say what the run holds now.

    ``on_progress`` is called on the main process only, first with (0, samples to do) as the loop starts;
    an editor that reports its steps (:class:`~realedit_bench.editing.ReportsSteps`) tells its ``step``.
    """
    main = runner.process_index == 0
    if main:
        try:
            runner.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the run directory {runner.run_dir}: {exc.strerror or exc}"
            ) from exc
    advance = _counting(on_progress) if main and on_progress is not None else None
    step = step_reporter(on_progress) if main else None
    if step is not None and isinstance(runner.model, ReportsSteps):
        runner.model.on_step = step
    result = runner.run(advance, load_seconds=load_seconds)
    if runner.num_processes > 1:
        runner.finish_sharded(load_seconds)
    outcome = RunOutcome(run_dir=runner.run_dir, n_selected=len(runner.samples),
                         done_before=result.done_before, ok=result.ok, errors=result.errors,
                         interrupted=result.interrupted)
    if not main:
        return outcome
    outcome.manifest = read_model(runner.manifest_path, RunManifest)
    latest = {r.sample_id: r for r in read_rows(runner.edits_path, EditRow)}
    outcome.failed = [(sid, r.error or "") for sid, r in latest.items() if r.status == "error"]
    if result.remote is not None:
        _add_spend(outcome, runner, result.remote)
    if result.interrupted:
        outcome.exit_code = EXIT_INTERRUPTED
    elif result.remote is not None and result.remote.stop_kind in ("budget", "fatal"):
        outcome.error = _stop_message(result.remote)
    elif outcome.manifest.status != "complete":
        outcome.exit_code = EXIT_SOME_FAILED
    return outcome


def _add_spend(outcome: RunOutcome, runner: Runner, report: RemoteReport) -> None:
    """A paid editor's calls and money in this call, and the money of the run's current edits."""
    rows = {r.sample_id: r for r in read_rows(runner.edits_path, EditRow)}.values()
    costs = [r.api.cost_usd for r in rows if r.api is not None and r.status == "ok"]
    outcome.calls, outcome.spent_usd = report.calls, report.spent_usd
    outcome.run_cost_usd = sum(c for c in costs if c is not None) if None not in costs else None
    outcome.stopped = _stop_message(report) if report.stopped else None


def _stop_message(report: RemoteReport) -> str:
    """Why a paid editor's run stopped early, what was left and what to do."""
    unsent = f"{report.not_dispatched} samples not sent" if report.not_dispatched else "every sample was sent"
    then = {"streak": "; rerun the same command to retry",
            "fatal": "; fix that, then rerun the same command to resume"}.get(report.stop_kind or "", "")
    return f"{report.stopped} ({unsent}){then}"  # the budget message says what to do itself
