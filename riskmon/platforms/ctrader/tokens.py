"""OAuth tokens for the Open API, kept as ``SecretStr`` and persisted in a private JSON file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from riskmon.errors import AuthenticationError


@dataclass(frozen=True, slots=True)
class Tokens:
    access: SecretStr
    refresh: SecretStr

    def __repr__(self) -> str:
        return "Tokens(access=**********, refresh=**********)"


class TokenStore:
    """A JSON file, mode 0600, written atomically (write a sibling, then rename)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load(self) -> Tokens:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Tokens(SecretStr(data["accessToken"]), SecretStr(data["refreshToken"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AuthenticationError(f"cannot read cTrader tokens from {self.path}: {type(exc).__name__}") from None

    def save(self, tokens: Tokens) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "accessToken": tokens.access.get_secret_value(),
            "refreshToken": tokens.refresh.get_secret_value(),
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
