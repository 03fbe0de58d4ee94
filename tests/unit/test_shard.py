"""Shards: every account owned by exactly one shard; going from N to N+1 moves only what the new shard wins."""

from __future__ import annotations

import pytest

from riskmon.errors import ConfigError
from riskmon.shard import Shard, owner, parse_shard

ACCOUNTS = [f"acc-{n}" for n in range(3000)]


def test_every_account_has_exactly_one_owner_and_shards_are_balanced() -> None:
    for shards in (1, 2, 3, 5):
        parts = [Shard(i, shards) for i in range(shards)]
        owners = [[p.owns(a) for p in parts].count(True) for a in ACCOUNTS]
        assert set(owners) == {1}
        sizes = [sum(p.owns(a) for a in ACCOUNTS) for p in parts]
        assert min(sizes) > 0.8 * len(ACCOUNTS) / shards, sizes


def test_resharding_n_to_n_plus_1_moves_only_the_accounts_the_new_shard_wins() -> None:
    for shards in (1, 2, 3, 4):
        moved = [a for a in ACCOUNTS if owner(a, shards) != owner(a, shards + 1)]
        assert all(owner(a, shards + 1) == shards for a in moved)  # each one to the new shard
        assert 0.6 * len(ACCOUNTS) / (shards + 1) < len(moved) < 1.4 * len(ACCOUNTS) / (shards + 1)


def test_shard_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_shard("2/4") == Shard(2, 4)
    for bad in ("4/4", "1", "a/b", "-1/3", "0/0"):
        with pytest.raises(ConfigError, match="I/N"):
            parse_shard(bad)
    monkeypatch.setenv("HOSTNAME", "riskmon-3")
    assert parse_shard("auto", 5) == Shard(3, 5)
    with pytest.raises(ConfigError, match="RISKMON_SHARDS"):
        parse_shard("auto")
    monkeypatch.setenv("HOSTNAME", "laptop")
    with pytest.raises(ConfigError, match="ordinal"):
        parse_shard("auto", 5)
