"""Shards: which of N ``riskmon run`` processes owns an account, by rendezvous (highest random weight) hashing.

Every account is owned by exactly one shard; going from N to N+1 shards moves only the accounts the new
shard wins (about 1/(N+1) of them), each from the one shard that owned it. A shard is given as ``I/N``
(``riskmon run --shard 2/4``, or the setting ``RISKMON_SHARD``), or ``auto`` in a Kubernetes StatefulSet: the
pod's ordinal from its hostname (``riskmon-2`` is shard 2) and N from the setting ``RISKMON_SHARDS``.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass

from riskmon.errors import ConfigError


def weight(shard: int, account: str) -> int:
    digest = hashlib.blake2b(f"{shard}\x00{account}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(account: str, shards: int) -> int:
    """The shard (0 … shards-1) that owns ``account``: the one with the highest weight for it."""
    return max(range(shards), key=lambda shard: weight(shard, account))


@dataclass(frozen=True)
class Shard:
    index: int
    of: int  # how many shards

    def owns(self, account: str) -> bool:
        return owner(account, self.of) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.of}"


def parse_shard(text: str, shards: int | None = None, setting: str = "--shard") -> Shard:
    """``I/N`` (0 <= I < N), or ``auto``: the StatefulSet pod ordinal (hostname ``name-I``) of ``shards``."""
    if text == "auto":
        host = os.environ.get("HOSTNAME") or socket.gethostname()
        ordinal = host.rpartition("-")[2]
        if not ordinal.isdigit() or shards is None:
            raise ConfigError(
                setting,
                f"auto needs a StatefulSet pod name ending in its ordinal (got {host!r}) and RISKMON_SHARDS "
                f"(got {shards})",
            )
        text = f"{ordinal}/{shards}"
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or not 0 <= int(index) < int(count):
        raise ConfigError(setting, f"expected I/N with 0 <= I < N (shard 0 of 3 is 0/3), got {text!r}")
    return Shard(int(index), int(count))
