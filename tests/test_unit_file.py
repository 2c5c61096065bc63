"""deploy/mailbot.service: systemd's own checker finds nothing to say, and the hardening is as promised."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailbot import config as configmod
from tests.tools import require

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "mailbot.service"
HARDENING = {
    "Type": "notify",
    "Restart": "on-failure",
    "User": "mailbot",
    "StateDirectory": "mailbot",
    "ConfigurationDirectory": "mailbot",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "SystemCallFilter": "@system-service",
}


def analyze() -> str:
    require("systemd-analyze")
    return shutil.which("systemd-analyze") or "systemd-analyze"


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_the_unit_has_the_promised_settings() -> None:
    found = settings()
    for key, value in HARDENING.items():
        assert found.get(key) == [value], key
    assert "TZ=Asia/Ho_Chi_Minh" in found["Environment"] and "PYTHONUNBUFFERED=1" in found["Environment"]
    assert int(found["WatchdogSec"][0].rstrip("s")) >= 60
    # every secret the deployed configuration names is handed over as a credential of that name
    deployed = configmod.load(ROOT / "deploy" / "mailbot.toml")
    credentials = {c.split(":", 1)[0] for c in found["LoadCredential"]}
    assert set(deployed.secret_names) == credentials
    assert (
        deployed.state_dir == Path("/var/lib/mailbot")
        and found["ExecStart"][0].split()[3] == "/etc/mailbot/mailbot.toml"
    )


@pytest.mark.parametrize("names", [("mailbot.service",), ("mailbot-backup.service", "mailbot-backup.timer")])
def test_systemd_analyze_verify_has_nothing_to_say(tmp_path, names) -> None:
    """verify needs the ExecStart binary to exist: the test points it at this venv's mailbot."""
    exe = Path(sys.executable).with_name("mailbot")
    assert exe.exists()
    for name in names:
        text = (UNIT.parent / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("/opt/mailbot/bin/mailbot", str(exe)), encoding="utf-8")
    done = subprocess.run(
        [analyze(), "verify", "--man=no", *(str(tmp_path / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done.stderr  # a warning fails too


def test_systemd_analyze_security_rates_it_ok(tmp_path) -> None:
    done = subprocess.run(
        [analyze(), "security", "--offline=yes", "--no-pager", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    match = re.search(r"Overall exposure level for mailbot.service: ([\d.]+) (\w+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= 2.0 and match.group(2) == "OK"
