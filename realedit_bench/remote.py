"""Editors behind paid APIs: their contract, and the loop that runs them for ``realedit run``.

A remote editor (``adapters/api/``) is thin: one coroutine sends one edit and returns the image file as the
API sent it, with the usage and money it reports; failures are raised as
:class:`~realedit_bench.net.CallError`, classified. Everything else lives here, as in the judge's engine:

* at most ``editor.concurrency`` calls in flight; each call retried by
  :func:`~realedit_bench.net.call_with_retries` (jittered backoff, ``Retry-After`` honoured, bounded);
* a moderation refusal is never retried: the sample is ``refused``, the editor's final answer;
* a fatal error (key refused, no access, unknown model, no quota) stops dispatching at once; so does a
  streak of failed samples, and ``--max-cost``: each call reserves its upper-bound estimate while in flight
  (:class:`~realedit_bench.net.Budget`), and no call is sent that could cross the budget;
* Ctrl-C stops dispatching; calls in flight finish and are recorded.

Every finished sample is handed to ``on_result`` at once (the runner writes its files and row then).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, Protocol, runtime_checkable

from realedit_bench.net import Budget, CallError, RetryPolicy, call_with_retries

if TYPE_CHECKING:
    from PIL import Image

#: Why dispatching stopped early.
StopKind = Literal["fatal", "streak", "budget"]


class RemoteEdit(NamedTuple):
    """What a paid image API returned for one edit."""

    #: The image file as returned, byte for byte.
    data: bytes
    #: Its format (``png``, ``jpeg``, ``webp``), read from the bytes.
    format: str
    #: Its (width, height).
    size: tuple[int, int]
    input_tokens: int = 0
    output_tokens: int = 0
    #: Money of this call from the reported usage and the editor's prices; None when no price is known.
    cost_usd: float | None = None
    #: The model (snapshot) the API said it ran.
    model: str | None = None


@runtime_checkable
class RemoteEditModel(Protocol):
    """An editor behind a paid HTTP API (see the module docstring)."""

    name: ClassVar[str]
    #: Calls in flight at once.
    concurrency: int
    #: Retries, backoff and the whole-call timeout (None: the editor bounds its own phases).
    retry: RetryPolicy

    def params(self) -> dict[str, Any]:
        """Every setting that influences the edit (recorded in the manifest; never a key)."""
        ...

    def check_key(self) -> None:
        """Raise :class:`~realedit_bench.errors.ConfigError` when the key is missing from the environment."""
        ...

    def estimate_cost(self, size: tuple[int, int]) -> float | None:
        """Upper-bound USD of editing one photo of ``size``, or None when no price is known."""
        ...

    def cost_line(self) -> str:
        """What one edit costs and why, for ``--dry-run`` (e.g. ``gpt-image-2, quality high: ...``)."""
        ...

    async def edit_remote(self, image: Image.Image, instruction: str, *, seed: int) -> RemoteEdit:
        """Send one edit; raise :class:`~realedit_bench.net.CallError` on failure."""
        ...

    async def aclose(self) -> None:
        """Close the HTTP client (the loop that made it is ending)."""
        ...


def is_remote(model: object) -> bool:
    """True for an editor behind a paid API (it has ``edit_remote``)."""
    return callable(getattr(model, "edit_remote", None))


def read_returned(data: bytes) -> tuple[str, tuple[int, int]]:
    """(format, size) of an image file an API returned; a :class:`CallError` when it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return (im.format or "unknown").lower(), im.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CallError(f"the API returned {len(data)} bytes that are not an image ({exc})",
                        retryable=True) from exc


def judged_view(edit: RemoteEdit, size: tuple[int, int]) -> Image.Image:
    """The returned image as the judge and the metrics see it: RGB at the source photo's ``size``."""
    from PIL import Image

    with Image.open(io.BytesIO(edit.data)) as im:
        rgb = im.convert("RGB")
    return rgb if rgb.size == size else rgb.resize(size, Image.Resampling.LANCZOS)


class Job(NamedTuple):
    """One sample to edit: its id, instruction, seed, and how to read its source photo."""

    sample_id: str
    instruction: str
    seed: int
    load: Callable[[], Image.Image]


@dataclass
class Result:
    """How one job ended: an edit, a refusal or an error, with the calls and money it took."""

    job: Job
    status: Literal["ok", "refused", "error"]
    edit: RemoteEdit | None = None
    #: The source photo's (width, height), when it could be read.
    source_size: tuple[int, int] | None = None
    error: str | None = None
    calls: int = 0
    cost_usd: float | None = None
    seconds: float = 0.0


@dataclass
class RemoteReport:
    """What :func:`run_remote` did."""

    finished: int = 0
    not_dispatched: int = 0
    calls: int = 0
    spent_usd: float = 0.0
    stopped: str | None = None
    stop_kind: StopKind | None = None


class _Run:
    """The state of one :func:`run_remote`: budget, failure streak, why it stopped."""

    def __init__(self, editor: RemoteEditModel, max_cost: float | None, failure_streak: int,
                 stopped: Callable[[], bool]) -> None:
        self.editor = editor
        self.budget = Budget(max_cost)
        self.max_cost = max_cost
        self.failure_streak = failure_streak
        self.interrupted = stopped
        self.streak = 0
        self.report = RemoteReport()

    def stopping(self) -> bool:
        return self.report.stopped is not None or self.interrupted()

    def halt(self, kind: StopKind, message: str) -> None:
        if self.report.stopped is None:
            self.report.stopped, self.report.stop_kind = message, kind

    async def edit(self, job: Job) -> Result | None:
        """One job: read its photo, reserve its estimate, call with retries; None when it must not be sent."""
        t0 = time.perf_counter()
        try:
            image = await asyncio.to_thread(job.load)
        except Exception as exc:  # noqa: BLE001 - an unreadable photo is this sample's error, as in the runner
            return Result(job, "error", error=f"{type(exc).__name__}: {exc}")
        est = self.editor.estimate_cost(image.size) if self.max_cost is not None else 0.0
        if not await self.budget.reserve(est or 0.0, self.stopping):
            if self.budget.exceeded:
                self.halt("budget", "budget")
            return None
        out = Result(job, "error", source_size=image.size)

        def count() -> None:
            out.calls += 1

        try:
            edit = await call_with_retries(
                lambda: self.editor.edit_remote(image, job.instruction, seed=job.seed), self.editor.retry,
                on_attempt=count, stopped=self.stopping)
            out.status, out.edit, out.cost_usd = "ok", edit, edit.cost_usd
        except CallError as exc:
            out.status, out.error = ("refused" if exc.refused else "error"), str(exc)
            if exc.fatal:
                self.halt("fatal", f"stopped: {exc}")
        except Exception as exc:  # noqa: BLE001 - a failing sample is data; the run goes on
            out.error = f"{type(exc).__name__}: {exc}"
        finally:
            await self.budget.release(est or 0.0, out.cost_usd or 0.0)
        out.seconds = time.perf_counter() - t0
        return out

    def finished(self, result: Result) -> None:
        """Count one result; a streak of failed samples stops the run."""
        self.report.finished += 1
        self.report.calls += result.calls
        self.report.spent_usd += result.cost_usd or 0.0
        if result.status != "error":
            self.streak = 0
            return
        self.streak += 1
        if self.streak >= self.failure_streak:
            self.halt("streak",
                      f"stopped after {self.streak} failed samples in a row; last error: {result.error}")


async def run_remote(
    editor: RemoteEditModel,
    jobs: Sequence[Job],
    on_result: Callable[[Result], None],
    *,
    max_cost: float | None = None,
    failure_streak: int = 20,
    stopped: Callable[[], bool] = lambda: False,
) -> RemoteReport:
    """Edit ``jobs`` through ``editor`` with bounded concurrency; ``on_result`` sees each as it finishes.

    Args:
        editor: The remote editor (key already checked).
        jobs: The samples to edit.
        on_result: Called with every finished job (on the event loop's thread).
        max_cost: USD not to cross in this call, or None.
        failure_streak: Failed samples in a row that stop the run.
        stopped: True once the user asked to stop (Ctrl-C): nothing more is sent.

    Returns:
        Counts, calls, money, and why dispatching stopped early (``stopped``), if it did.
    """
    run = _Run(editor, max_cost, failure_streak, stopped)
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while not run.stopping():
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            result = await run.edit(job)
            if result is None:
                queue.put_nowait(job)
                return
            on_result(result)
            run.finished(result)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, editor.concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        await editor.aclose()
    if run.report.stop_kind == "budget" and max_cost is not None:
        # Written after every call in flight ended, so the money spent is what was really spent.
        run.report.stopped = (
            f"stopped before crossing the budget of ${max_cost:.4f}: spent ${run.budget.spent:.4f} in this "
            f"run and the next edit could cost up to ${run.budget.next_est:.4f}; rerun with a higher "
            f"--max-cost to finish"
        )
    run.report.not_dispatched = queue.qsize()
    return run.report
