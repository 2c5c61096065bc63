"""Staff commands while the daemon runs: handed to it through the state folder.

One process writes the register (it holds the state folder's lock). A staff
command that finds the lock taken writes its request as a JSON file under
state_dir/requests/, wakes the daemon with SIGUSR1, and waits for the answer
file; the daemon carries out each request with the same code the command would
have run itself, between two mailbox passes.

A request is carried out at most once: the daemon renames it to NAME.taken before
it starts, and removes that after writing the answer. A .taken file found later was
under way when a daemon died (a crash, the watchdog): it is answered with that, never
run again (it might be what stopped the daemon, and would stop it at every start).
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
from mailbot.durable import atomic_write
from mailbot.errors import MailbotError

log = logging.getLogger(__name__)

FOLDER = "requests"
ANSWER_SUFFIX = ".answer.json"
TAKEN_SUFFIX = ".taken"
WAIT_SECONDS = 60.0  # how long a command waits for the daemon to take its request
BUSY_SECONDS = 3600.0  # ... and then for its answer, while the daemon lives (an assign re-reads the files)
INTERRUPTED = (
    "mailbot stopped abruptly while carrying out this request; it is not run again. "
    "Check with `mailbot review` / `mailbot status`, and see `journalctl -u mailbot`"
)
STALE_SECONDS = 600.0  # an answer older than this was given up on: removed


def submit(
    state_dir: Path,
    pid: int | None,
    action: str,
    params: dict[str, Any],
    timeout: float = WAIT_SECONDS,
    busy_timeout: float = BUSY_SECONDS,
) -> dict[str, Any]:
    """Hand one request to the daemon holding the lock and wait for its answer: `timeout` for the
    daemon to take it, then `busy_timeout` while it carries it out."""
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
    taken = folder / f"{name}{TAKEN_SUFFIX}"
    deadline = time.monotonic() + timeout
    busy_until: float | None = None
    while time.monotonic() < (busy_until or deadline):
        if answer.exists():
            data: dict[str, Any] = json.loads(answer.read_text(encoding="utf-8"))
            answer.unlink(missing_ok=True)
            return data
        if busy_until is None and taken.exists():  # under way: an assign may take minutes
            busy_until = time.monotonic() + busy_timeout
        if busy_until is not None and not taken.exists() and not answer.exists():
            raise MailbotError(
                f"the running mailbot (pid {pid}) could not write its answer in {folder} (is the disk full? "
                "`mailbot check`, `journalctl -u mailbot`)"
            )
        if busy_until is not None and pid and not _alive(pid) and not answer.exists():
            raise MailbotError(f"the running mailbot (pid {pid}) stopped while carrying out the request: {INTERRUPTED}")
        time.sleep(0.05)
    request.unlink(missing_ok=True)  # not taken: withdraw it
    raise MailbotError(
        f"the running mailbot (pid {pid}) did not answer within {timeout:.0f} s; is it stuck? (`journalctl -u mailbot`)"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: alive
    return True


def waiting(state_dir: Path) -> bool:
    folder = state_dir / FOLDER
    try:
        return any(not p.name.endswith(ANSWER_SUFFIX) for p in folder.glob("*.json")) or any(
            folder.glob(f"*{TAKEN_SUFFIX}")
        )
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
    for taken in sorted(folder.glob(f"*{TAKEN_SUFFIX}")):  # under way when a daemon died: never again
        log.error("request %s was under way when mailbot last stopped abruptly: answered, not run again", taken.name)
        _answer(taken, {"ok": False, "error": INTERRUPTED})
    done = 0
    for request in sorted(p for p in folder.glob("*.json") if not p.name.endswith(ANSWER_SUFFIX)):
        taken = request.with_name(request.name[: -len(".json")] + TAKEN_SUFFIX)
        try:
            os.rename(request, taken)  # from now on, a crash does not run it again
            data = json.loads(taken.read_text(encoding="utf-8"))
            action = actions[data["action"]]
        except FileNotFoundError:
            continue  # withdrawn by the command meanwhile
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
        _answer(taken if taken.exists() else request, result)
        done += 1
    return done


def _answer(done: Path, result: dict[str, Any]) -> None:
    """The answer file of the request `done` (NAME.json or NAME.taken), then the request removed.
    An answer that cannot be written (the disk is full) is logged once and the request removed all
    the same: the command is told (it sees its request gone without an answer), and the daemon's
    pass goes on instead of failing on the same request again and again."""
    stem = done.name.rsplit(".", 1)[0]
    try:
        atomic_write(
            done.with_name(stem + ANSWER_SUFFIX), json.dumps(result, ensure_ascii=False).encode("utf-8"), durable=False
        )
    except OSError as exc:
        log.error("cannot write the answer to staff request %s: %s; the request is dropped", stem, exc.strerror or exc)
    try:
        done.unlink(missing_ok=True)
    except OSError as exc:
        log.error("cannot remove staff request %s: %s", done.name, exc.strerror or exc)
