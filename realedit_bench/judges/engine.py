"""The judging engine: render, encode, cache, call with retries, parse, re-ask, record. Sample-agnostic.

The engine judges :class:`JudgeItem` triplets (an id, an instruction, images by role), so it serves
Real-Edit (see :mod:`realedit_bench.judges.runner`) and any other set of (source, edited, instruction)
triplets, e.g. reward-data annotation through :func:`judge_items`.

Reliability rules, in one place:

* at most ``concurrency`` calls in flight; the SDKs' own retries are off;
* a failed call is retried (429, 408, 409, 5xx, timeouts, connection errors) up to ``max_retries`` times
  with jittered exponential backoff, waiting at least the server's ``Retry-After`` (capped);
* 401/403/404 and exhausted quota stop the run at once; other 4xx fail the item without a retry;
* ``failure_streak`` consecutive failed items stop the run with the last error;
* every call has a total timeout (``timeout``), on top of the SDK's own;
* an unparseable reply gets exactly one re-ask quoting the problem, then the item is ``invalid``;
  a refusal (provider flag or in words) is ``refused``; neither is ever scored;
* the re-ask quotes the first reply as the assistant turn; an empty first reply is quoted as
  :data:`EMPTY_REPLY_TURN`, because the Anthropic Messages API rejects an empty non-final assistant
  message with a 400 (and OpenAI rejects null content), which would turn every such item into an error;
* a reply cut off at ``max_tokens`` (OpenAI ``finish_reason="length"``, Anthropic
  ``stop_reason="max_tokens"``) that does not parse is reported as cut off at ``max_tokens=N``. The
  re-ask keeps the same ``max_tokens`` and says the reply was cut off and must be the object alone with
  a short reason. We do not raise the budget: ``max_tokens`` is part of the rubric (the authors' protocol
  fixes 50), it is recorded in every row and the cache key, and the ``--max-cost`` reservation and the
  dry-run estimate assume it; a judge that still overruns is ``invalid`` with that reason, so a user
  sees it and can raise ``max_tokens`` in a rubric file;
* ``--max-cost``: an ask reserves its upper-bound estimate while in flight and releases it to its real
  cost when it ends; a worker whose next ask would cross the budget while others are in flight waits for
  them, and dispatching stops only when spent + reserved + the next estimate would exceed the budget with
  nothing left in flight. A re-ask is not reserved separately (rare; it can add up to one call).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from realedit_bench.errors import RealEditError
from realedit_bench.interrupt import StopRequest
from realedit_bench.judges.backends.base import Backend, CallError, ChatReply, ChatRequest, ImagePart
from realedit_bench.judges.cache import JudgeCache, cache_key
from realedit_bench.judges.encode import ImageEncoder
from realedit_bench.judges.parse import (
    Parsed,
    looks_like_refusal,
    paper_parse_as_parsed,
    parse_paper,
    parse_robust,
)
from realedit_bench.judges.prices import PriceTable, load_prices
from realedit_bench.judges.rubric import RenderedPrompt, Rubric
from realedit_bench.net import Budget, RetryPolicy, call_with_retries
from realedit_bench.provenance import utc_now
from realedit_bench.ratelimit import AdaptiveLimiter
from realedit_bench.schema.base import PERSPECTIVES, Perspective
from realedit_bench.schema.judge import Usage


class JudgeAborted(RealEditError):
    """The run was stopped: fatal provider error, a streak of failures, or the budget."""


class UnreadableImage(RealEditError):
    """An image of an item cannot be read; :attr:`role` says which one (``source``, ``edited``)."""

    def __init__(self, role: str, message: str) -> None:
        super().__init__(message)
        self.role = role


#: The assistant turn a re-ask sends when the first reply had no text (never an empty turn).
EMPTY_REPLY_TURN = "(empty reply)"
#: Finish reasons that mean the reply hit ``max_tokens`` (OpenAI, Anthropic).
CUT_OFF_REASONS = ("length", "max_tokens")

#: Why a run stopped early: a fatal provider error (key, access, quota), a streak of failed asks, the budget,
#: or Ctrl-C / SIGTERM.
StopKind = Literal["fatal", "streak", "budget", "interrupted"]
#: The stop message of a run stopped by Ctrl-C or SIGTERM.
INTERRUPTED = "stopped by Ctrl-C or SIGTERM"


class JudgeItem(NamedTuple):
    """Something to judge: an id, the edit instruction, and images by role (``source``, ``edited``)."""

    id: str
    instruction: str
    images: Mapping[str, Path | bytes]


#: How replies are read: our robust parser with one re-ask, or the authors' released parser.
ParseMode = Literal["robust", "paper"]
PARSE_MODES: tuple[ParseMode, ...] = ("robust", "paper")


class Task(NamedTuple):
    """One ask: an item, a perspective, and which of the ``--repeats K`` repeats."""

    item: JudgeItem
    perspective: Perspective
    repeat: int = 0


@dataclass
class EngineConfig:
    """Settings of a judging run (all recorded in rows or the summary)."""

    concurrency: int = 8
    timeout: float = 60.0
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    retry_after_cap: float = 120.0
    failure_streak: int = 20
    temperature: float | None = 0.0
    seed: int | None = 0
    parse_mode: ParseMode = "robust"
    max_cost: float | None = None
    batch: bool = False
    #: Ask for the rubric's answer as a JSON schema response format where the provider takes one.
    structured: bool = False

    def retry_policy(self) -> RetryPolicy:
        """The retries, backoff and whole-call timeout of one ask."""
        return RetryPolicy(max_retries=self.max_retries, backoff_base=self.backoff_base,
                           backoff_cap=self.backoff_cap, retry_after_cap=self.retry_after_cap,
                           timeout=self.timeout)


@dataclass
class Planned:
    """A task with its rendered prompt, image hashes, parameters and cache key (nothing encoded yet)."""

    task: Task
    prompt: RenderedPrompt
    image_sha256: list[str]
    image_sizes: list[tuple[int, int]]
    params: dict[str, Any]
    key: str
    est_input_tokens: int
    #: role -> sha256 of the image FILE when planned (files only): what a row says it judged, taken here
    #: and not when the answer arrives, so a file rewritten meanwhile is not recorded as the one judged.
    file_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def slot(self) -> tuple[str, str, int]:
        """(item id, perspective, repeat): where its answer goes."""
        return (self.task.item.id, self.task.perspective, self.task.repeat)


@dataclass
class Outcome:
    """The judgment of one task (engine-level; the runner adds sample fields)."""

    item_id: str
    perspective: Perspective
    repeat: int
    status: Literal["ok", "invalid", "refused", "error"]
    verdict: bool | None = None
    score: float | None = None
    reason: str | None = None
    raw: str | None = None
    paper_parse: dict[str, Any] | None = None
    model_snapshot: str | None = None
    system_fingerprint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    image_sha256: list[str] = field(default_factory=list)
    cache_key: str | None = None
    cached: bool = False
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)
    finished_at: str = ""
    #: role -> sha256 of the image file as planned (see :attr:`Planned.file_sha256`).
    file_sha256: dict[str, str] = field(default_factory=dict)


class Reading(NamedTuple):
    """What one reply says: ok (with the parsed answer), refused, or invalid; ``reason`` says why."""

    status: Literal["ok", "refused", "invalid"]
    parsed: Parsed
    reason: str | None


@dataclass
class RunReport:
    """What happened in :meth:`JudgeEngine.run`."""

    finished: int = 0
    not_dispatched: int = 0
    stopped: str | None = None
    stop_kind: StopKind | None = None
    #: Finished asks whose status is ``error`` (the call failed for good).
    errors: int = 0
    usage: Usage = field(default_factory=Usage)
    calls_sent: int = 0


class JudgeEngine:
    """Judge tasks with one backend and one rubric.

    Args:
        backend: A constructed backend (keys already checked).
        rubric: The rubric to render and parse with.
        config: Concurrency, retry, parsing and budget settings.
        cache: Call cache, or None to disable caching.
        prices: Price table for usage money and the budget.
    """

    def __init__(
        self,
        backend: Backend,
        rubric: Rubric,
        *,
        config: EngineConfig | None = None,
        cache: JudgeCache | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.backend = backend
        self.rubric = rubric
        self.config = config or EngineConfig()
        self.cache = cache
        self.prices = prices or load_prices()
        self.encoder = ImageEncoder(
            rubric.image_format, jpeg_quality=rubric.jpeg_quality, max_side=rubric.max_side,
            store=cache.encodings if cache is not None else None,
        )
        self._streak = 0
        self._stop: str | None = None
        self._stop_kind: StopKind | None = None
        self._spent = 0.0
        self.calls_sent = 0
        #: Calls in flight and their pace, adapted to the provider's rate limit (--concurrency is the most).
        self.limiter = AdaptiveLimiter(self.config.concurrency)

    # Planning -------------------------------------------------------------------------------
    def plan(self, task: Task) -> Planned:
        """Render the prompt and hash the images as they will be sent (cheap: no encoding when known)."""
        prompt = self.rubric.render(task.perspective, task.item.instruction)
        shas: list[str] = []
        sizes: list[tuple[int, int]] = []
        files: dict[str, str] = {}
        for role in prompt.image_roles:
            try:
                image = task.item.images[role]
            except KeyError as exc:
                raise RealEditError(
                    f"item {task.item.id!r} has no {role!r} image (rubric {self.rubric.id})"
                ) from exc
            try:
                sha, size, file_sha = self.encoder.hashes(image)
            except (RealEditError, OSError) as exc:
                raise UnreadableImage(role, str(exc)) from exc
            shas.append(sha)
            sizes.append(size)
            if not isinstance(image, (bytes, bytearray)):
                files[role] = file_sha
        req = self._request(prompt, (), ())
        params = self.backend.request_params(req)
        key = self._key(prompt, shas, params, (), task.repeat)
        est = self.backend.estimate_input_tokens(prompt.system + prompt.text, sizes)
        return Planned(task, prompt, shas, sizes, params, key, est, files)

    def _key(self, prompt: RenderedPrompt, shas: Sequence[str], params: Mapping[str, Any],
             followups: Sequence[tuple[str, str]], repeat: int) -> str:
        return cache_key(
            provider=self.backend.provider, model=self.backend.model, rubric=self.rubric.id,
            system=prompt.system, text=prompt.text, text_first=prompt.text_first, image_sha256=shas,
            params=params, followups=followups, repeat=repeat,
        )

    def _request(self, prompt: RenderedPrompt, images: Sequence[ImagePart],
                 followups: tuple[tuple[str, str], ...]) -> ChatRequest:
        content: tuple[str | ImagePart, ...]
        content = (prompt.text, *images) if prompt.text_first else (*images, prompt.text)
        schema = self.rubric.response_schema(prompt.perspective) if self.config.structured else None
        return ChatRequest(
            system=prompt.system, content=content, max_tokens=prompt.max_tokens,
            temperature=self.config.temperature,
            seed=self.config.seed if self.backend.supports_seed else None,
            followups=followups, timeout=self.config.timeout,
            response_schema=schema if self.backend.supports_structured else None,
        )

    def materialize(self, planned: Planned, followups: tuple[tuple[str, str], ...] = ()) -> ChatRequest:
        """Encode the images and build the request; checks the bytes still match the planned hashes."""
        parts: list[ImagePart] = []
        for role, sha in zip(planned.prompt.image_roles, planned.image_sha256, strict=True):
            enc = self.encoder(planned.task.item.images[role])
            if enc.sha256 != sha:
                raise RealEditError(f"image {role} of {planned.task.item.id!r} changed while judging; rerun")
            parts.append(ImagePart(enc.data, enc.mime))
        return self._request(planned.prompt, parts, followups)

    def estimated_cost(self, planned: Planned) -> float:
        """Upper-bound money of one ask (estimated input, full max_tokens output)."""
        return self.prices.cost(self.backend.name, planned.est_input_tokens, planned.prompt.max_tokens,
                                batch=self.config.batch)

    def is_cached(self, planned: Planned) -> bool:
        """True when the first call of ``planned`` is in the cache."""
        return self.cache is not None and self.cache.get(planned.key) is not None

    # Calling --------------------------------------------------------------------------------
    async def _attempt(self, req: ChatRequest, tokens: float) -> ChatReply:
        """One call, admitted by the rate limiter first (waiting there is not part of the call's timeout)."""
        ticket = await self.limiter.acquire(tokens)
        reply: ChatReply | None = None
        err: CallError | None = None
        try:
            # The SDK timeout bounds each network phase; this bounds the whole call.
            reply = await asyncio.wait_for(self.backend.complete(req), timeout=self.config.timeout)
            return reply
        except asyncio.TimeoutError:
            err = CallError(f"the call took longer than {self.config.timeout:g} s", retryable=True)
            raise err from None
        except CallError as exc:
            err = exc
            raise
        finally:
            await self.limiter.release(ticket, rate=reply.rate if reply is not None else None,
                                       refused=err is not None and err.status == 429 and not err.fatal,
                                       retry_after=err.retry_after if err is not None else None)

    async def _call_with_retry(self, req: ChatRequest, usage: Usage, tokens: float) -> ChatReply:
        def count() -> None:
            usage.calls += 1
            self.calls_sent += 1

        policy = dataclasses.replace(self.config.retry_policy(), timeout=None)  # _attempt times each call
        reply = await call_with_retries(lambda: self._attempt(req, tokens), policy,
                                        on_attempt=count, stopped=lambda: self._stop is not None)
        usage.input_tokens += reply.input_tokens
        usage.output_tokens += reply.output_tokens
        return reply

    async def _ask(self, key: str, planned: Planned, followups: tuple[tuple[str, str], ...],
                   usage: Usage) -> tuple[ChatReply, bool]:
        """Reply for ``key`` from the cache, or from the backend (not stored yet: see :meth:`_remember`)."""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit, True
        images = planned.task.item.images
        if all(self.encoder.cached(images[role]) is not None for role in planned.prompt.image_roles):
            # Every image is already encoded (the usual case: perspectives and edits share them), so
            # building is cheap; a hop to a worker thread would cost more than it saves.
            req = self.materialize(planned, followups)
        else:
            req = await asyncio.to_thread(
                self.materialize, planned, followups
            )  # encoding: keep the loop free
        tokens = planned.est_input_tokens + planned.prompt.max_tokens  # what a provider's limit counts
        return await self._call_with_retry(req, usage, tokens), False

    def _remember(self, key: str, reply: ChatReply, cached: bool) -> None:
        if self.cache is not None and not cached:
            self.cache.put(key, reply)

    def _parse(self, perspective: str, reply: ChatReply, max_tokens: int) -> Parsed:
        text = reply.text
        if self.config.parse_mode == "paper":
            parsed = paper_parse_as_parsed(text)
        else:
            p = self.rubric.perspectives[perspective]
            parsed = parse_robust(
                text, verdict_key=p.verdict_key, score_key=p.score_key, reason_key=p.reason_key,
                score_range=(self.rubric.score_min, self.rubric.score_max),
                reason_required_below=self.rubric.reason_required_below,
                verdict_threshold=self.rubric.verdict_threshold,
            )
        if not parsed.ok and reply.finish_reason in CUT_OFF_REASONS:
            # Say so: "not a JSON object" hides that the rubric's max_tokens (50 in the paper's) was too
            # small.
            return parsed._replace(
                problem=f"the reply was cut off at max_tokens={max_tokens} ({parsed.problem})"
            )
        return parsed

    def read_reply(self, perspective: str, reply: ChatReply, max_tokens: int) -> Reading:
        """Turn one reply into ok (parsed), refused (by the provider's flag or in words) or invalid."""
        if reply.refused:
            return Reading(
                "refused", Parsed(False), f"the judge refused (finish reason {reply.finish_reason})"
            )
        parsed = self._parse(perspective, reply, max_tokens)
        if parsed.ok:
            return Reading("ok", parsed, parsed.reason)
        if looks_like_refusal(reply.text):
            return Reading("refused", parsed, "the judge refused in words")
        return Reading("invalid", parsed, parsed.problem)

    def _reask_turns(
        self, perspective: str, reply: ChatReply, problem: str | None
    ) -> tuple[tuple[str, str], ...]:
        """The first reply quoted back (never an empty turn) and the rubric's re-ask naming the problem."""
        quoted = reply.text if reply.text and reply.text.strip() else EMPTY_REPLY_TURN
        problem = problem or ""
        if reply.finish_reason in CUT_OFF_REASONS:
            problem += (
                "; answer with the object alone and a short reason"  # same max_tokens (module docstring)
            )
        return (("assistant", quoted), ("user", self.rubric.reask_text(perspective, problem)))

    async def judge(self, planned: Planned, first: ChatReply | None = None) -> Outcome:
        """Judge one planned task: at most two asks (the second re-asks an unparseable first reply).

        Args:
            planned: The task.
            first: A reply already obtained (from a batch): it is the first ask, billed at the batch price.
        """
        task = planned.task
        out = Outcome(task.item.id, task.perspective, task.repeat, "error", params=dict(planned.params),
                      image_sha256=list(planned.image_sha256), cache_key=planned.key,
                      file_sha256=dict(planned.file_sha256))
        usage, batch = Usage(), Usage()
        cached = True
        asks = 1 if self.config.parse_mode == "paper" else 2  # the authors' script never re-asks
        followups: tuple[tuple[str, str], ...] = ()
        first_problem: str | None = None
        try:
            for n in range(asks):
                key = self._key(planned.prompt, planned.image_sha256, planned.params, followups,
                                task.repeat) if followups else planned.key
                if first is not None and n == 0:
                    reply, hit = first, False
                    batch.add(
                        Usage(calls=1, input_tokens=first.input_tokens, output_tokens=first.output_tokens)
                    )
                else:
                    reply, hit = await self._ask(key, planned, followups, usage)
                cached &= hit
                reading = self.read_reply(task.perspective, reply, planned.prompt.max_tokens)
                if reading.status != "refused":  # refusals are not cached: a rerun may get an answer
                    self._remember(key, reply, hit)
                self._record(out, reply, reading, first_problem)
                if reading.status != "invalid" or n + 1 == asks:
                    break
                first_problem = reading.parsed.problem
                followups = self._reask_turns(task.perspective, reply, first_problem)
                out.params["reask"] = True
        except CallError as exc:
            cached = False
            out.status, out.reason = ("refused" if exc.refused else "error"), str(exc)
            if exc.fatal and not exc.refused:
                self._halt("fatal", f"stopped: {exc}")
        except RealEditError as exc:  # e.g. an image became unreadable after planning: this item only
            cached = False
            out.status, out.reason = "error", str(exc)
        out.cached = cached and out.status != "error"
        out.attempts = usage.calls + batch.calls
        usage.cost_usd = self.prices.cost(self.backend.name, usage.input_tokens, usage.output_tokens,
                                          batch=self.config.batch)
        # A batch answer is billed at the batch price whatever mode collects it.
        batch.cost_usd = self.prices.cost(
            self.backend.name, batch.input_tokens, batch.output_tokens, batch=True
        )
        usage.add(batch)
        out.usage = usage
        out.finished_at = utc_now()
        return out

    @staticmethod
    def _record(out: Outcome, reply: ChatReply, reading: Reading, first_problem: str | None) -> None:
        """Write one ask's reply and reading into ``out``; ``first_problem`` is set on the re-ask."""
        reask = first_problem is not None
        if not reask:
            out.paper_parse = {**parse_paper(reply.text).as_dict(), "text": isinstance(reply.text, str)}
        out.raw = reply.text
        out.model_snapshot = reply.model or out.model_snapshot
        out.system_fingerprint = reply.system_fingerprint or out.system_fingerprint
        out.status, out.reason = reading.status, reading.reason
        if reading.status == "ok":
            out.verdict, out.score = reading.parsed.verdict, reading.parsed.score
        elif reask and reading.status == "refused":
            out.reason = "the judge refused when asked again"
        elif reask:
            out.reason = f"unparseable after one re-ask: {reading.reason} (first reply: {first_problem})"

    def _halt(self, kind: StopKind, message: str) -> None:
        """Stop dispatching (the first reason wins)."""
        if self._stop is None:
            self._stop, self._stop_kind = message, kind

    # Running many ---------------------------------------------------------------------------
    async def run(self, planned: Sequence[Planned],
                  on_result: Callable[[Outcome], None | Awaitable[None]]) -> RunReport:
        """Judge every planned task with bounded concurrency; ``on_result`` sees each as it finishes.

        ``on_result`` may be a coroutine function (e.g. a durable append off the event loop); its
        worker awaits it before taking the next task.

        Dispatching stops (in-flight calls still finish and are recorded) on a fatal error, after
        ``failure_streak`` consecutive failures, before the budget ``max_cost`` would be crossed, or at the
        first Ctrl-C or SIGTERM (a second one stops at once).
        """
        cfg = self.config
        report = RunReport()
        queue: asyncio.Queue[Planned] = asyncio.Queue()
        for p in planned:
            queue.put_nowait(p)
        calls_before = self.calls_sent
        budget = Budget(cfg.max_cost, spent=self._spent)

        async def worker() -> None:
            while not self._stop:
                try:
                    p = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                est = self.estimated_cost(p) if cfg.max_cost is not None and not self.is_cached(p) else 0.0
                if not await budget.reserve(est, lambda: self._stop is not None):
                    if budget.exceeded:
                        self._halt("budget", "budget")  # the message is written once the run has ended
                    queue.put_nowait(p)
                    return
                cost = 0.0
                in_flight[0] += 1
                try:
                    out = await self.judge(p)
                    cost = out.usage.cost_usd
                finally:
                    in_flight[0] -= 1
                    await budget.release(est, cost)
                await self._finish(out, report, on_result)

        in_flight = [0]
        # The first Ctrl-C or SIGTERM stops dispatching; the calls in flight end and are recorded.
        stop = StopRequest(lambda: f"the {in_flight[0]} call(s) in flight (each within {cfg.timeout:g} s)",
                           lambda: self._halt("interrupted", INTERRUPTED))
        workers = [asyncio.create_task(worker()) for _ in range(max(1, cfg.concurrency))]
        try:
            with stop:
                await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
        if self._stop_kind == "budget" and cfg.max_cost is not None:
            # Written after every call in flight has ended, so "spent" is what was really spent.
            self._stop = (
                f"stopped before crossing the budget of ${cfg.max_cost:.4f}: "
                f"spent ${budget.spent - self._spent:.4f} "
                f"in this run and the next ask could cost up to ${budget.next_est:.4f}; rerun with a higher "
                f"--max-cost to finish"
            )
        self._spent = budget.spent
        report.not_dispatched = queue.qsize()
        report.stopped = self._stop
        report.stop_kind = self._stop_kind
        report.calls_sent = self.calls_sent - calls_before
        return report

    async def _finish(self, out: Outcome, report: RunReport,
                      on_result: Callable[[Outcome], None | Awaitable[None]]) -> None:
        """Hand one outcome on, count it, and stop after ``failure_streak`` failed asks in a row."""
        report.usage.add(out.usage)
        done = on_result(out)
        if inspect.isawaitable(done):
            await done  # e.g. the row is durable: only then is this task finished
        report.finished += 1
        if out.status != "error":
            self._streak = 0
            return
        report.errors += 1
        self._streak += 1
        if self._streak >= self.config.failure_streak:
            self._halt(
                "streak", f"stopped after {self._streak} failed asks in a row; last error: {out.reason}"
            )


def judge_items(
    items: Iterable[JudgeItem],
    *,
    judge: str | Backend,
    rubric: str | Rubric = "realedit-v1",
    perspectives: Sequence[Perspective] = PERSPECTIVES,
    repeats: int = 1,
    config: EngineConfig | None = None,
    cache: Path | JudgeCache | None = None,
    on_result: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Judge arbitrary (id, instruction, images) triplets and return one :class:`Outcome` per ask.

    A reusable entry point (reward-data annotation uses it). Keys come from the environment; a
    missing key raises :class:`~realedit_bench.errors.ConfigError` before any call.

    Args:
        items: Items with ``images`` holding the roles the rubric sends (``source``, ``edited``).
        judge: ``provider/model`` or a constructed backend.
        rubric: Built-in rubric id, rubric file path, or a loaded rubric.
        perspectives: Which perspectives to ask.
        repeats: Asks per (item, perspective).
        config: Engine settings.
        cache: SQLite cache path, an open cache, or None for no cache.
        on_result: Called with each outcome as it finishes (e.g. to append it to a file).

    Returns:
        Outcomes in the order they finished.

    Raises:
        JudgeAborted: the run stopped early (fatal error, failure streak, budget); finished outcomes
            were already passed to ``on_result``.
    """
    from realedit_bench.judges.backends import make_backend
    from realedit_bench.judges.rubric import load_rubric

    backend = make_backend(judge) if isinstance(judge, str) else judge
    rub = load_rubric(rubric) if not isinstance(rubric, Rubric) else rubric
    own_cache = isinstance(cache, (str, Path))
    jc = JudgeCache(Path(cache)) if isinstance(cache, (str, Path)) else cache
    engine = JudgeEngine(backend, rub, config=config, cache=jc)
    tasks = [Task(it, p, r) for it in items for p in perspectives for r in range(repeats)]
    results: list[Outcome] = []

    def collect(out: Outcome) -> None:
        results.append(out)
        if on_result is not None:
            on_result(out)

    async def main() -> RunReport:
        try:
            planned = [engine.plan(t) for t in tasks]
            return await engine.run(planned, collect)
        finally:
            await backend.aclose()

    try:
        report = asyncio.run(main())
    finally:
        if own_cache and jc is not None:
            jc.close()
    if report.stopped:
        raise JudgeAborted(report.stopped)
    return results
