"""Several processes for one command: ``--num-processes N`` reruns the command line under a launcher.

``realedit run`` and ``realedit reward train`` take ``--num-processes N``; outside a launcher they start
``accelerate launch`` (or, for a run on a machine without a GPU per process, ``torchrun``) on the same
command line without that flag, and wait for it. Inside the launched processes the flag is gone and the
launcher's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) says which process is which.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from realedit_bench.errors import ConfigError

#: The flag that asks for several processes; it is removed before the command is launched again.
NUM_PROCESSES_FLAG = "--num-processes"


def under_launcher() -> bool:
    """True inside a process started by ``accelerate launch`` or torchrun."""
    return "LOCAL_RANK" in os.environ or "ACCELERATE_LAUNCH_PARAMS" in os.environ


def argv_without(argv: Sequence[str], flag: str) -> list[str]:
    """``argv`` without ``flag`` and its value (as ``--flag V`` or ``--flag=V``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == flag:
            skip = True
            continue
        if arg.startswith(flag + "="):
            continue
        out.append(arg)
    return out


def command_to_relaunch(argv: Sequence[str] | None, num_processes: int, what: str) -> list[str]:
    """The realedit arguments to run in each launched process: ``argv`` without ``--num-processes``.

    Raises:
        ConfigError: ``argv`` is None: a library call cannot start its own processes.
    """
    if argv is None:
        raise ConfigError(
            f"num_processes={num_processes}: start the processes with 'accelerate launch' (or use "
            f"'realedit {what} --num-processes {num_processes}'); a library call runs in its own process only"
        )
    return argv_without(argv, NUM_PROCESSES_FLAG)


def launch_command(launcher: Sequence[str], argv: Sequence[str]) -> list[str]:
    """``python -m <launcher...> -m realedit_bench.cli.main <argv>``."""
    return [sys.executable, "-m", *launcher, "-m", "realedit_bench.cli.main", *argv]


def launch(command: Sequence[str]) -> int:
    """Run a command made by :func:`launch_command`, wait for it and return its exit code."""
    return subprocess.call(list(command))
