"""One writer per output: a second process is told who holds the lock, or waits for it."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from lock_holder import LockHolder

from realedit_bench.errors import ConfigError
from realedit_bench.locks import WAIT_OPTION, folder_lock


def test_a_second_process_is_told_who_holds_the_lock(tmp_path: Path) -> None:
    with LockHolder(tmp_path, ".x.lock") as holder:
        with pytest.raises(ConfigError) as exc:
            with folder_lock(tmp_path, ".x.lock", "realedit judge"):
                pass
    message = str(exc.value)
    assert message.startswith(f"another realedit judge is writing {tmp_path} (pid {holder.pid} on host "
                               f"{socket.gethostname()} since ")
    assert "realedit " in message and WAIT_OPTION in message and "\n" not in message
    with folder_lock(tmp_path, ".x.lock", "realedit judge"):  # released when the holder ended
        assert "pid" in (tmp_path / ".x.lock").read_text()
    assert (tmp_path / ".x.lock").read_text() == ""  # nobody holds it any more


def test_waiting_says_once_what_it_waits_for(tmp_path: Path) -> None:
    said: list[str] = []
    with LockHolder(tmp_path, ".x.lock") as holder:
        threading.Timer(1.0, holder.release).start()
        t0 = time.monotonic()
        with folder_lock(tmp_path, ".x.lock", "realedit run", wait=True, log=said.append,
                         target=tmp_path / "r"):
            waited = time.monotonic() - t0
            assert f'"pid": {os.getpid()}' in (tmp_path / ".x.lock").read_text()
    assert waited >= 0.9
    assert len(said) == 1 and said[0].startswith(f"waiting: another realedit run is writing {tmp_path / 'r'} "
                                                 f"(pid {holder.pid} ")


def test_a_lock_file_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".x.lock")
    with pytest.raises(ConfigError, match=r"lock file .*\.x\.lock is not a file"):
        with folder_lock(tmp_path, ".x.lock", "realedit metrics"):
            pass
    (tmp_path / "f").write_text("in the way")
    with pytest.raises(ConfigError, match="cannot write in"):
        with folder_lock(tmp_path / "f", ".x.lock", "realedit metrics"):
            pass
