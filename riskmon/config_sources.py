"""Where configuration comes from: the files (encoding, syntax), the environment over ``.env``, and
what a user most likely meant by a name riskmon does not know.

Everything here turns a bad file into one ``ConfigError`` line; nothing here knows what a setting means.
"""

from __future__ import annotations

import codecs
import difflib
import io
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from dotenv import dotenv_values
from dotenv.parser import parse_stream
from pydantic import BaseModel, ValidationError

from riskmon.errors import ConfigError

ENVIRONMENT = "environment"
_INLINE_COMMENT = re.compile(r"\s#")


def read_text(path: Path, setting: str) -> str:
    """A configuration file as text: UTF-8, with or without a byte-order mark; anything else is one clear line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(setting, f"{path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(setting, f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(setting, f"cannot read {path}: {exc.strerror}") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in data[:256]:
        raise ConfigError(setting, f"{path} is UTF-16 text; save it as UTF-8 (e.g. Notepad: Save as, Encoding UTF-8)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            setting,
            f"{path} is not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}, e.g. Latin-1 or Windows-1252); "
            "save it as UTF-8",
        ) from None


def read_toml(path: Path, setting: str) -> dict[str, Any]:
    try:
        return tomllib.loads(read_text(path, setting))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(setting, f"{path} is not valid TOML: {exc}") from None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the closest known name, or nothing."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean {match[0]}?)" if match else ""


def looks_like_inline_comment(value: str) -> bool:
    """``5.0   # percent``: what Docker's --env-file keeps of a line with a trailing comment."""
    return _INLINE_COMMENT.search(value) is not None


def looks_quoted(value: str) -> bool:
    """``"12345"``: what Docker's --env-file keeps of a quoted value (a .env file's quotes are syntax)."""
    return len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"


def docker_keeps(value: str) -> str | None:
    """What in ``value`` only Docker's --env-file or the environment would have kept, and the fix, if anything."""
    keep = "Docker's --env-file and the environment keep"
    if looks_like_inline_comment(value):
        return f"looks like it carries an inline comment: {keep} everything after '=' (put the comment on its own line)"
    if looks_quoted(value):
        return f"is wrapped in quotes: {keep} them (write the value without them)"
    return None


@dataclass(frozen=True)
class Value:
    """One variable as the user wrote it: its name, its text and where it was set."""

    name: str
    text: str
    where: str  # the .env file's path, or ENVIRONMENT


class EnvSource:
    """The process environment over a ``.env`` file (the environment wins, as everywhere).

    Known settings are looked up case-insensitively, like the variables of the reference monitor;
    an empty value means "not set".
    """

    def __init__(self, environ: Mapping[str, str], file_values: Mapping[str, str], file: Path | None) -> None:
        self.file = file
        self._file = {name: Value(name, text, str(file)) for name, text in file_values.items() if text}
        self._environ = {name: Value(name, text, ENVIRONMENT) for name, text in environ.items() if text}

    @classmethod
    def read(cls, environ: Mapping[str, str], file: Path | None, setting: str = "--env-file") -> EnvSource:
        """``file`` when it exists (an absent file is no file; the caller decides if that is an error)."""
        if file is None or not file.exists():
            return cls(environ, {}, None)
        text = read_text(file, setting)
        for binding in parse_stream(io.StringIO(text)):
            if binding.error:  # the line itself is not shown: it may hold a secret
                raise ConfigError(
                    setting, f"line {binding.original.line} of {file} is not NAME=VALUE (an unclosed quote?)"
                )
        values = dotenv_values(stream=io.StringIO(text))
        return cls(environ, {name: value or "" for name, value in values.items()}, file)

    def get(self, name: str) -> Value | None:
        """The value of ``name`` (exact, else in any case), the environment's before the file's."""
        for source in (self._environ, self._file):
            if name in source:
                return source[name]
        for source in (self._environ, self._file):
            for key, value in source.items():
                if key.upper() == name.upper():
                    return value
        return None

    def unknown(self, known: Iterable[str]) -> list[str]:
        """One line per name that is not a known setting: every unknown name in the file, and the
        environment's names that are close to a known one (the environment holds much else)."""
        known_upper = {k.upper() for k in known}
        lines = []
        for name in self._file:
            if name.upper() not in known_upper:
                lines.append(f"unknown setting {name} in {self.file}{did_you_mean(name.upper(), known_upper)}")
        for name in self._environ:
            hint = did_you_mean(name.upper(), known_upper)
            if name.upper() not in known_upper and hint and name not in self._file:
                lines.append(f"unknown setting {name} in the {ENVIRONMENT}{hint}")
        return lines


def toml_error(exc: ValidationError, path: Path, model: type[BaseModel], prefix: str = "") -> ConfigError:
    """A riskmon.toml validation error: the key as written, its value, and for an unknown key the closest known one."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = ".".join(part if not part.isdigit() else f"[{part}]" for part in loc).replace(".[", "[")
    key = f"{prefix}.{key}" if prefix and key else prefix or key
    if error["type"] == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        return ConfigError(key, f"unknown key in {path}{did_you_mean(loc[-1], known)}")
    value = error.get("input")
    shown = None if isinstance(value, dict | list) or value is None else str(value)
    return ConfigError(key, plain(error["msg"]), value=shown, where=str(path))


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    """The field names of the table at ``loc`` inside ``model`` (list indexes skipped)."""
    current: Any = model
    for part in loc:
        if part.isdigit():
            continue
        is_model = isinstance(current, type) and issubclass(current, BaseModel)
        field = current.model_fields.get(part) if is_model else None
        if field is None:
            return []
        current = _model_in(field.annotation)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def plain(message: str) -> str:
    """A pydantic message without its prefix."""
    return message.removeprefix("Value error, ")
