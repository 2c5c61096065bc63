"""The `mailbot` command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mailbot import logs
from mailbot.errors import ConfigError, MailbotError, StateDamaged, StateReadOnly

if TYPE_CHECKING:
    from mailbot.config import Config

log = logging.getLogger("mailbot")

EXIT_OK, EXIT_FAIL, EXIT_CONFIG, EXIT_DAMAGED, EXIT_READ_ONLY = 0, 1, 2, 3, 4  # 2-4: systemd does not restart


# The rest of mailbot (and its libraries) is imported after main() has routed Python's warnings to the log.
def _load(path: str | None) -> Config:
    from mailbot import config as configmod

    return configmod.load(path or configmod.example_path())


def cmd_classify(args: argparse.Namespace) -> int:
    from mailbot.analysis.classify import classify_bytes
    from mailbot.intake.sources import Incoming
    from mailbot.intake.sources.maildir import iter_paths

    config = _load(args.config)
    status = EXIT_OK
    for item in iter_paths(args.paths):
        if not isinstance(item, Incoming):
            path, error = item
            print(f"mailbot: {path}: {error}", file=sys.stderr)
            status = EXIT_FAIL
            continue
        env = classify_bytes(item.raw, config, source=item.source_id, received=item.delivered)
        print(
            json.dumps(
                {
                    "file": item.source_id,
                    "message_id": env.parsed.message_id,
                    "organization": env.organization,
                    "documents": env.documents,
                    "disposition": env.disposition,
                    "reasons": env.reasons,
                    "signatures": [s.as_record() for s in env.signatures],
                },
                ensure_ascii=False,
            ),
            flush=True,
        )
    return status


LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
LOG_FORMATS = ["text", "json"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailbot", description="Hộp thư tự động của Sở Thông tin và Truyền thông.")
    parser.add_argument("--log-level", default="WARNING", choices=LOG_LEVELS)
    parser.add_argument(
        "--log-format",
        default="text",
        choices=LOG_FORMATS,
        help="text (one line per event) or json (one object per line, for log shippers)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("classify", help="classify .eml files or Maildir folders; print one JSON line per message")
    p.add_argument("--config", help="configuration file (default: the example deployment)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.set_defaults(func=cmd_classify)

    from mailbot import commands  # the commands that keep state

    commands.add_parsers(sub)
    from mailbot.staff import commands as staff

    staff.add_parsers(sub)
    from mailbot.staff import backup, check

    check.add_parser(sub)
    backup.add_parser(sub)
    for command in sub.choices.values():  # also accepted after the command: `mailbot run --log-level INFO`
        command.add_argument("--log-level", default=argparse.SUPPRESS, choices=LOG_LEVELS)
        command.add_argument("--log-format", default=argparse.SUPPRESS, choices=LOG_FORMATS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logs.route_warnings()  # first: a library's warning goes to the log at DEBUG, not to the operator's screen
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    # Stored mail, registers, rosters and backups are for the service's user alone, whatever
    # the umask of the shell or cron that runs the command (the unit sets UMask=0077 too).
    os.umask(os.umask(0o077) | 0o077)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StateDamaged as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return EXIT_DAMAGED
    except StateReadOnly as exc:  # restarting cannot help: a person must make it writable
        print(f"mailbot: {exc}", file=sys.stderr)
        return EXIT_READ_ONLY
    except MailbotError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `mailbot ... | head`
        sys.stderr.close()
        return 0
