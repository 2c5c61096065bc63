"""Reading one TOML table strictly: typed getters, dotted key names in errors, unknown keys refused."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from mailbot.errors import ConfigError

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)
ADDRESS_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class Section:
    """Reads keys out of one table, remembering which were used."""

    def __init__(self, file: str, prefix: str, data: Any) -> None:
        self.file = file
        self.prefix = prefix
        if not isinstance(data, dict):
            raise ConfigError(file, prefix or "(top level)", "must be a table")
        self.data = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), problem)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ..., what: str = "") -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise self.fail(name, "is required")
            return default
        value = self.data[name]
        # bool is an int subclass: never accept it where a number is meant.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(name, f"must be {what or kind_name(kind)}, not {value!r}")
        if not isinstance(value, kind):
            raise self.fail(name, f"must be {what or kind_name(kind)}, not {type(value).__name__} {value!r}")
        return value

    def text(self, name: str, default: Any = ...) -> str:
        return self.get(name, str, default, "a string")

    def strings(
        self, name: str, default: Any = ..., check: Callable[[str], bool] | None = None, what: str = ""
    ) -> tuple[str, ...]:
        value = self.get(name, list, default, "a list of strings")
        for item in value:
            if not isinstance(item, str):
                raise self.fail(name, f"must be a list of strings, found {item!r}")
            if check is not None and not check(item):
                raise self.fail(name, f"{item!r} is not {what}")
        return tuple(value)

    def choice(self, name: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def table(self, name: str, default: Any = ...) -> Section:
        value = self.get(name, dict, default, "a table")
        return Section(self.file, self.key(name), value)

    def tables(self, name: str) -> list[Section]:
        value = self.get(name, list, [], "an array of tables")
        out = []
        for index, item in enumerate(value):
            out.append(Section(self.file, f"{self.key(name)}[{index}]", item))
        return out

    def ident(self, name: str, taken: set[str] | list[str], what: str) -> str:
        """An id: lower-case letters, digits and dashes, not yet used among its siblings."""
        value = self.text(name)
        if not ID_RE.match(value):
            raise self.fail(name, f"{value!r} must be lower-case letters, digits and dashes")
        if value in taken:
            raise self.fail(name, f"duplicate {what} id {value!r}")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key (check the spelling; see config.example.toml)")


def kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
        dt.date: "a date",
        dt.datetime: "a date-time",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def is_address(value: str) -> bool:
    return bool(ADDRESS_RE.match(value))


def is_domain(value: str) -> bool:
    return bool(DOMAIN_RE.match(value))


def deadline(sec: Section, name: str, tz: ZoneInfo) -> dt.datetime:
    """A TOML date means 'by the end of that day' in the configured zone."""
    value = sec.get(name, (dt.datetime, dt.date), what="a date (2021-04-01) or an offset date-time")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise sec.fail(name, "a date-time needs an offset, e.g. 2021-04-01T23:59:59+07:00")
        return value
    return dt.datetime.combine(value, dt.time(23, 59, 59), tzinfo=tz)


def date_value(sec: Section, name: str) -> dt.date | None:
    value = sec.get(name, dt.date, None, "a date such as 2021-05-23")
    if isinstance(value, dt.datetime):
        raise sec.fail(name, "must be a date without time, such as 2021-05-23")
    return value


def resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()
