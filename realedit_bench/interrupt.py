"""Ctrl-C and SIGTERM, the same in every verb.

SIGTERM (a batch scheduler's stop, ``kill``) is handled as Ctrl-C: it raises :class:`Terminated`, a
:class:`KeyboardInterrupt`, wherever Ctrl-C would raise one. Work that can stop cleanly holds a
:class:`StopRequest` while it runs: the first signal says at once what the work waits for and asks it
to stop at its next safe point (the runner after the current batch, the judge once the calls in flight
have ended); a second one stops at once. Either way what finished is kept, the command exits with
:data:`~realedit_bench.outcome.EXIT_INTERRUPTED` (130, for SIGTERM too: one code means "stopped,
resumable") and the command line prints how to resume (:func:`stopped_lines`).
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

#: The signals handled as Ctrl-C.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; handled as Ctrl-C."""


def signal_name(signum: int) -> str:
    """``Ctrl-C`` or ``SIGTERM``, as messages name the stop."""
    return "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` as Ctrl-C raises KeyboardInterrupt."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: the host program owns its signals
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class StopRequest:
    """Stop cleanly on the first Ctrl-C or SIGTERM; stop at once on the second.

    Args:
        waiting_for: What the work still does before it stops (called when the first signal comes), e.g.
            ``lambda: "the current batch"``: the line printed at once says so.
        on_stop: Called once, at the first signal (e.g. to tell an engine to dispatch nothing more).
        say: Where the line goes (stderr).
    """

    def __init__(self, waiting_for: Callable[[], str], on_stop: Callable[[], None] | None = None,
                 say: Callable[[str], None] = _say) -> None:
        self.waiting_for = waiting_for
        self.on_stop = on_stop
        self.say = say
        #: The signal that asked to stop (``Ctrl-C``, ``SIGTERM``), or None.
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        try:
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: nothing is installed
            self._previous = {}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        self.requested = signal_name(signum)
        self.say(f"{self.requested}: stopping after {self.waiting_for()} (what finished is kept); "
                 "press Ctrl-C again to stop at once")
        if self.on_stop is not None:
            self.on_stop()

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


#: What a verb's command line must also say to resume (a training resumes only when asked to).
RESUME_OPTIONS: dict[tuple[str, ...], tuple[str, ...]] = {("reward", "train"): ("--resume", "latest")}


def resume_command() -> str:
    """The command line to run again to resume: as typed (secrets in URLs masked), with what the verb
    needs to resume (:data:`RESUME_OPTIONS`)."""
    from realedit_bench.provenance import command_line

    argv = command_line()
    extra = RESUME_OPTIONS.get(tuple(argv[1:3]), ())
    return shlex.join([*argv, *extra] if extra and extra[0] not in argv else argv)


def stopped_lines(interrupted: BaseException | None) -> list[str]:
    """What the command line prints when a verb ends with exit code 130.

    Args:
        interrupted: The KeyboardInterrupt that ended the verb before it could stop cleanly (nothing was
            said yet), or None when the verb stopped cleanly and said so itself.
    """
    lines = []
    if interrupted is not None:
        how = "SIGTERM" if isinstance(interrupted, Terminated) else "Ctrl-C"
        lines.append(f"stopped by {how}; what finished is kept")
    lines.append(f"to resume, run the same command again: {resume_command()}")
    return lines


def interrupt_of(exc: BaseException) -> BaseException | None:
    """The KeyboardInterrupt behind ``exc`` (its cause or context chain), if any."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        if isinstance(node, KeyboardInterrupt):
            return node
        seen.add(id(node))
        node = node.__cause__ or node.__context__
    return None
