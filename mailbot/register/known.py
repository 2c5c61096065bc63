"""Addresses staff confirmed as an organization's (`assign --remember-sender`), kept in the state folder:
read by the runner when it identifies a sender, written by the staff command."""

from __future__ import annotations

import json
from pathlib import Path

from mailbot.durable import atomic_write
from mailbot.errors import StateDamaged


class KnownSenders:
    """Addresses staff confirmed as an organization's (`assign --remember-sender`), in the state."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "known_senders.json"
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise StateDamaged(self.path, exc) from None
        self.addresses: dict[str, str] = {str(k).lower(): str(v) for k, v in data.items()}

    def add(self, address: str, organization: str) -> None:
        self.addresses[address.lower()] = organization
        text = json.dumps(dict(sorted(self.addresses.items())), ensure_ascii=False, indent=1)
        atomic_write(self.path, text.encode("utf-8"))

    def of(self, organization: str) -> list[str]:
        return sorted(a for a, o in self.addresses.items() if o == organization)
