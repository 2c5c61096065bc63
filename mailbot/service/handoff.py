"""Staff commands while the daemon runs: handed to it through the state folder.

One process writes the register (it holds the state folder's lock). A staff
command that finds the lock taken writes its request as a JSON file under
state_dir/requests/, wakes the daemon with SIGUSR1, and waits for the answer
file; the daemon carries out each request with the same code the command would
have run itself, between two mailbox passes.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mailbot.clockskew import ahead_seconds
from mailbot.errors import MailbotError
from mailbot.register.storage import atomic_write

log = logging.getLogger(__name__)

FOLDER = "requests"
ANSWER_SUFFIX = ".answer.json"
WAIT_SECONDS = 60.0  # how long a command waits for the daemon's answer
STALE_SECONDS = 600.0  # an answer older than this was given up on: removed


def submit(
    state_dir: Path, pid: int | None, action: str, params: dict[str, Any], timeout: float = WAIT_SECONDS
) -> dict[str, Any]:
    """Hand one request to the daemon holding the lock and wait for its answer."""
    folder = state_dir / FOLDER
    name = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
    request, answer = folder / f"{name}.json", folder / f"{name}{ANSWER_SUFFIX}"
    try:
        folder.mkdir(exist_ok=True)
        atomic_write(request, json.dumps({"action": action, "params": params}, ensure_ascii=False).encode("utf-8"))
    except OSError as exc:
        raise MailbotError(
            f"cannot hand the request to the running mailbot (pid {pid}): {exc.strerror} in {folder}"
            f"{'; the disk is full: free some space' if exc.errno == errno.ENOSPC else ''}"
        ) from None
    if pid:
        try:
            os.kill(pid, signal.SIGUSR1)  # end its wait on the mailbox now
        except OSError as exc:
            log.warning("cannot wake the running mailbot (pid %s): %s; it will read the request later", pid, exc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer.exists():
            data: dict[str, Any] = json.loads(answer.read_text(encoding="utf-8"))
            answer.unlink(missing_ok=True)
            return data
        time.sleep(0.05)
    request.unlink(missing_ok=True)  # not taken: withdraw it
    raise MailbotError(
        f"the running mailbot (pid {pid}) did not answer within {timeout:.0f} s; is it stuck? (`journalctl -u mailbot`)"
    )


def waiting(state_dir: Path) -> bool:
    folder = state_dir / FOLDER
    try:
        return any(not p.name.endswith(ANSWER_SUFFIX) for p in folder.glob("*.json"))
    except OSError:
        return False


def serve(state_dir: Path, actions: dict[str, Callable[[dict[str, Any]], str]]) -> int:
    """Carry out the waiting requests, oldest first; returns how many."""
    folder = state_dir / FOLDER
    if not folder.is_dir():
        return 0
    now = time.time()
    for answer in folder.glob(f"*{ANSWER_SUFFIX}"):  # answers nobody waited for (the command gave up)
        try:
            made = answer.stat().st_mtime
            if made < now - STALE_SECONDS or ahead_seconds(made, now):  # or from a clock that ran ahead
                answer.unlink()
        except OSError:
            pass
    done = 0
    for request in sorted(p for p in folder.glob("*.json") if not p.name.endswith(ANSWER_SUFFIX)):
        try:
            data = json.loads(request.read_text(encoding="utf-8"))
            action = actions[data["action"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            result: dict[str, Any] = {"ok": False, "error": f"unreadable request {request.name}: {exc}"}
        else:
            try:
                result = {"ok": True, "output": action(data.get("params") or {})}
            except MailbotError as exc:
                result = {"ok": False, "error": str(exc)}
            except Exception as exc:  # a bug must not stop the daemon
                log.exception("request %s failed", request.name)
                result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        answer = request.with_name(request.name[: -len(".json")] + ANSWER_SUFFIX)
        atomic_write(answer, json.dumps(result, ensure_ascii=False).encode("utf-8"), durable=False)
        request.unlink(missing_ok=True)
        done += 1
    return done
