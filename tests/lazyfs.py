"""LazyFS: a FUSE filesystem that keeps every write not fsynced in memory and drops it on
command, as a power cut does (github.com/dsrhaslab/lazyfs, from the database-testing world).

Built from its source with cmake, Debian's libfuse3-dev and, instead of the toml11 and spdlog
its CMake files download, Debian's libtoml11-dev and libspdlog-dev: the build copies the source
and patches those lines (`_patch`); nothing of LazyFS is kept in this repository.

Where the source comes from: $LAZYFS_SRC (a source tree or a git repository), else a clone of
github.com/dsrhaslab/lazyfs (needs the network). The build lands in $LAZYFS_BUILD, default
~/.cache/mailbot/lazyfs; `binary()` finds it, `build()` makes it.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

UPSTREAM = "https://github.com/dsrhaslab/lazyfs"
DEBIAN_PACKAGES = "cmake g++ fuse3 libfuse3-dev libtoml11-dev libspdlog-dev"


def build_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mailbot" / "lazyfs"
    return Path(os.environ.get("LAZYFS_BUILD") or default)


def binary() -> Path | None:
    """The built lazyfs executable, or None."""
    path = build_dir() / "lazyfs" / "build" / "lazyfs"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def unavailable() -> str | None:
    """Why LazyFS cannot run here (None: it can)."""
    if binary() is None:
        return (
            f"LazyFS is not built: LAZYFS_SRC=/path/to/lazyfs .venv/bin/python bench/powercut.py --build "
            f"(Debian: {DEBIAN_PACKAGES})"
        )
    if not Path("/dev/fuse").exists() or shutil.which("fusermount3") is None:
        return "FUSE is not available (/dev/fuse, fusermount3 from Debian's fuse3)"
    return None


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    if old not in text:
        raise RuntimeError(f"LazyFS source changed: {path.name} has no {old[:60]!r}; update tests/lazyfs.py")
    path.write_text(text.replace(old, new), encoding="utf-8")


def _patch(tree: Path) -> None:
    """Debian's toml11 and spdlog instead of FetchContent (no network at build time)."""
    pcache = tree / "libs" / "libpcache" / "CMakeLists.txt"
    text = pcache.read_text(encoding="utf-8")
    start, end = text.find("include(FetchContent)"), text.find("set(warn_opts")
    if start < 0 or end < start:
        raise RuntimeError("LazyFS source changed: libpcache's FetchContent block not found; update tests/lazyfs.py")
    pcache.write_text(
        text[:start] + "find_package(toml11 REQUIRED)\nfind_package(spdlog REQUIRED)\n\n" + text[end:], encoding="utf-8"
    )
    _replace(
        pcache,
        "target_link_libraries(pcache toml11::toml11 spdlog)",
        "target_link_libraries(pcache toml11::toml11 spdlog::spdlog)",
    )
    main = tree / "lazyfs" / "CMakeLists.txt"
    _replace(main, "find_package(Threads REQUIRED)", "find_package(Threads REQUIRED)\nfind_package(spdlog REQUIRED)")
    _replace(main, "fuse3 Threads::Threads libpcache.so)", "fuse3 Threads::Threads libpcache.so spdlog::spdlog)")


def _copy_source(source: Path, tree: Path) -> None:
    if (source / "libs" / "libpcache").is_dir():  # a source tree
        shutil.copytree(source, tree, ignore=shutil.ignore_patterns(".git", "build"))
        return
    git_dir = source / ".git" if (source / ".git").exists() else source  # a repository, bare or not
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "HEAD"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)


def build(source: Path | None = None, log: Path | None = None) -> Path:
    """Build LazyFS into build_dir() and return the executable."""
    target = build_dir()
    work = Path(tempfile.mkdtemp(prefix="lazyfs-src-"))
    try:
        if source is None:
            env_source = os.environ.get("LAZYFS_SRC")
            if env_source:
                source = Path(env_source)
            else:
                source = work / "clone"
                subprocess.run(["git", "clone", "--depth", "1", UPSTREAM, str(source)], check=True)
        staging = work / "tree"
        _copy_source(source, staging)
        _patch(staging)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(staging, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pcache = target / "libs" / "libpcache"
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        jobs = ["-j", "2"]
        for step in (
            ["cmake", "-S", str(pcache), "-B", str(pcache / "build"), "-DCMAKE_BUILD_TYPE=Release"],
            ["cmake", "--build", str(pcache / "build"), *jobs],
            [
                "cmake",
                "-S",
                str(target / "lazyfs"),
                "-B",
                str(target / "lazyfs" / "build"),
                "-DCMAKE_BUILD_TYPE=Release",
                "-DLAZYFS_BUILD_TESTS=OFF",
                f"-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath,{pcache / 'build'}",
            ],
            ["cmake", "--build", str(target / "lazyfs" / "build"), *jobs],
        ):
            subprocess.run(step, check=True, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    found = binary()
    if found is None:
        raise RuntimeError(f"LazyFS built, but no executable in {target}")
    return found


class LazyFS:
    """One LazyFS mount of `disk` (what survives a power cut) at `mount`."""

    def __init__(self, disk: Path, mount: Path, work: Path, cache: str = "256mb") -> None:
        """`cache`: LazyFS's page cache, allocated at each mount (2 GB takes 6 s to mount here)."""
        exe = binary()
        if exe is None:
            raise RuntimeError(unavailable() or "LazyFS is not built")
        self.exe, self.disk, self.mount, self.work = exe, disk, mount, work
        self.fifo, self.done_fifo = work / "faults.fifo", work / "done.fifo"
        self.proc: subprocess.Popen[bytes] | None = None
        self._done_fd: int | None = None
        self._err: IO[bytes] | None = None
        for folder in (disk, mount, work):
            folder.mkdir(parents=True, exist_ok=True)
        # LazyFS takes a config path holding "-o" (pytest-of-root) for a mount option: keep it elsewhere
        self._config_dir = Path(tempfile.mkdtemp(prefix="lazyfs_")) if "-o" in str(work).lower() else None
        self.config = (self._config_dir or work) / "lazyfs.toml"
        self.config.write_text(
            f'[faults]\nfifo_path="{self.fifo}"\nfifo_path_completed="{self.done_fifo}"\n'
            f'[cache]\napply_eviction=false\n[cache.simple]\ncustom_size="{cache}"\nblocks_per_page=1\n'
            f'[filesystem]\nlog_all_operations=false\nlogfile="{work / "lazyfs.log"}"\n',
            encoding="utf-8",
        )

    def start(self) -> None:
        for fifo in (self.fifo, self.done_fifo):
            if not fifo.exists():
                os.mkfifo(fifo)
        # LazyFS opens the completion FIFO for writing at start: a reader must be there
        self._done_fd = os.open(self.done_fifo, os.O_RDONLY | os.O_NONBLOCK)
        self._err = open(self.work / "lazyfs.err", "ab")  # noqa: SIM115 (closed by stop)
        self.proc = subprocess.Popen(
            [str(self.exe), str(self.mount), "--config-path", str(self.config), "-f"]
            + ["-o", "modules=subdir", "-o", f"subdir={self.disk}"],
            stdout=subprocess.DEVNULL,
            stderr=self._err,
        )
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.mount):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"LazyFS did not mount {self.mount}: see {self.work / 'lazyfs.err'}")
            time.sleep(0.05)

    def clear_cache(self) -> None:
        """The power cut: every write not fsynced is gone."""
        assert self._done_fd is not None
        with open(self.fifo, "w") as fifo:
            fifo.write("lazyfs::clear-cache\n")
        got = b""
        deadline = time.monotonic() + 60
        while b"finished::clear-cache" not in got:
            if time.monotonic() > deadline:
                raise RuntimeError("LazyFS did not finish clear-cache within 60 s")
            ready, _, _ = select.select([self._done_fd], [], [], 1.0)
            if ready:
                got += os.read(self._done_fd, 256)

    def stop(self) -> None:
        """Unmount (after the cut: what the restarted machine sees comes from `disk` alone)."""
        if self.proc is not None:
            subprocess.run(["fusermount3", "-u", "-z", str(self.mount)], capture_output=True)
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._done_fd is not None:
            os.close(self._done_fd)
            self._done_fd = None
        if self._err is not None:
            self._err.close()
            self._err = None

    def close(self) -> None:
        self.stop()
        if self._config_dir is not None:
            shutil.rmtree(self._config_dir, ignore_errors=True)

    def power_cut(self) -> None:
        """Drop what is not on disk, then come back up as a machine after a reboot does."""
        self.clear_cache()
        self.stop()
        self.start()
