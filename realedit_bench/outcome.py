"""What every library call of :mod:`realedit_bench.api` returns: the exit code it means and a summary.

The command line prints :meth:`Outcome.describe` and exits with :attr:`Outcome.exit_code`; a notebook
reads the same object's fields. Bad input is not an outcome: it is raised as a
:class:`~realedit_bench.errors.RealEditError` (exit code 2) before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every sample (or call) that was asked for finished.
EXIT_OK = 0
#: Some samples failed; they are recorded in the results, and rerunning the same command retries them.
EXIT_SOME_FAILED = 1
#: Bad input or configuration (raised as RealEditError; listed here for completeness).
EXIT_BAD_INPUT = 2
#: A bug in realedit or in an editor: the traceback is printed.
EXIT_INTERNAL = 3
#: Stopped by Ctrl-C or SIGTERM; what finished is kept and rerunning the command resumes.
EXIT_INTERRUPTED = 130


@dataclass
class Outcome:
    """Base of the result objects: subclasses add their own fields and say what happened."""

    exit_code: int = EXIT_OK

    def describe(self) -> str:
        """The summary for a person: one or a few lines saying what was done (the CLI prints them)."""
        raise NotImplementedError
