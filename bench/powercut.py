"""Power cuts under the state folder: LazyFS drops every write not fsynced while `mailbot run --once`
works a backlog; after each cut the register must open, and in the end every message is recorded
once, every acknowledgement sent once (or resent once with the same Message-ID), none empty.

    LAZYFS_SRC=/path/to/lazyfs .venv/bin/python bench/powercut.py --build   # once (Debian: see tests/lazyfs.py)
    .venv/bin/python bench/powercut.py [--cuts 12] [--copies 3] [--seed 1] [--runs 1] [--daemon]

Prints the figures of each run (tests/powercut.py says how a run goes). Needs root or a user
allowed to mount FUSE (/dev/fuse, fusermount3).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import lazyfs  # noqa: E402
from tests.powercut import run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", action="store_true", help="build LazyFS first ($LAZYFS_SRC, else a git clone)")
    parser.add_argument("--cuts", type=int, default=12, help="power cuts per run (one per batch of mail)")
    parser.add_argument("--copies", type=int, default=3, help="the 52 fixtures, this many times")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1, help="runs with seeds seed, seed+1, ...")
    parser.add_argument("--daemon", action="store_true", help="the service (`mailbot run`) instead of `run --once`")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    if args.build:
        print("building LazyFS ...", flush=True)
        print("built:", lazyfs.build(log=Path(tempfile.gettempdir()) / "lazyfs-build.log"))
    why = lazyfs.unavailable()
    if why:
        print(why, file=sys.stderr)
        return 2
    for n in range(args.runs):
        tmp = Path(tempfile.mkdtemp(prefix="mailbot-powercut-"))
        try:
            figures = run(
                tmp,
                args.cuts,
                args.copies,
                args.seed + n,
                say=lambda text: print("  " + text, flush=True),
                daemon=args.daemon,
            )
        finally:
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
        print(f"run {n + 1} (seed {args.seed + n}): {figures.line()}")
        if figures.refusal:
            print(f"  the register refused to open: {figures.refusal}")
        if args.keep:
            print(f"  kept in {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
