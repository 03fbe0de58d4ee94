"""Exceptions riskmon raises on purpose, and the exit code each ends a command with.

Each carries one line a person can act on.

RiskmonError                   exit 1
├── ConfigError                exit 3: a setting is missing or invalid (names the setting)
├── StoreError                 exit 1: the state database cannot be used
│   └── StoreLockedError       another riskmon process holds the database
├── PlatformError              exit 1: a trading platform failed
│   ├── PlatformUnavailable    exit 4: cannot connect / reach the terminal or server (retryable)
│   ├── AuthenticationError    exit 3: credentials refused (not retryable without a fix)
│   └── ProtocolError          a message that does not fit the protocol
└── ReplayError                exit 1: a replay file cannot be read at all

Usage errors (an unknown option, a missing argument) exit 2, as every click/typer program does. A replay
that ran to the end but skipped lines or had snapshots refused exits 5 (``ExitCode.INCOMPLETE``): data
left out must never look like a clean run.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # anything else riskmon stopped for
    USAGE = 2  # the command line itself (click's own code)
    CONFIG = 3  # configuration: a setting, a file, credentials
    UNREACHABLE = 4  # a platform cannot be reached
    INCOMPLETE = 5  # `replay` ran to the end but left data out: malformed lines skipped, snapshots refused


class RiskmonError(Exception):
    """Base of every error riskmon raises deliberately."""

    exit_code = ExitCode.ERROR


class ConfigError(RiskmonError):
    """``setting`` as the user wrote it (variable, flag or riskmon.toml key); ``value`` is shown masked when secret."""

    exit_code = ExitCode.CONFIG

    def __init__(
        self, setting: str, problem: str, *, value: str | None = None, where: str = "", secret: bool = False
    ) -> None:
        self.setting = setting
        self.problem = problem
        shown = "" if value is None else f"={'********' if secret else value!r}"
        place = f" (in {where})" if where else ""
        super().__init__(f"configuration error: {setting}{shown}{place}: {problem}")


class StoreError(RiskmonError):
    pass


class StoreLockedError(StoreError):
    """Another riskmon process holds the state database; ``holder`` is its pid as it wrote it."""

    def __init__(self, message: str, holder: str = "unknown") -> None:
        super().__init__(message)
        self.holder = holder


class PlatformError(RiskmonError):
    pass


class PlatformUnavailable(PlatformError):
    exit_code = ExitCode.UNREACHABLE


class AuthenticationError(PlatformError):
    exit_code = ExitCode.CONFIG


class ProtocolError(PlatformError):
    pass


class ReplayError(RiskmonError):
    pass


def file_in_the_way(path: Path) -> Path | None:
    """The file standing where one of ``path``'s folders must be, if any."""
    above = next((p for p in path.parents if p.exists()), None)
    return above if above is not None and not above.is_dir() else None


def os_reason(path: Path, exc: OSError) -> str:
    """Why an OS call on ``path`` failed, in words: a file in the way of its folder, else the OS's own."""
    blocker = file_in_the_way(path)
    return f"{blocker} is a file, not a folder" if blocker is not None else exc.strerror or str(exc)
