"""The resolver and bucket function of the backend, as pure functions (SPEC "Resolver semantics").

`passenger_hash` in the logs is always H(passenger_id); the bucket is computed from that hex digest, so a logged
hash can be bucketed without ever knowing the passenger id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from monitor.domain.flag import Decision, FlagConfig

SUPPORTED_HASHES = ("sha256", "md5")


@dataclass(frozen=True)
class Bucketer:
    """Hash settings of the backend: algorithm and how many hex characters feed the bucket (0 = all)."""

    algorithm: str = "sha256"
    hex_chars: int = 8

    def __post_init__(self) -> None:
        if self.algorithm not in SUPPORTED_HASHES:
            raise ValueError(f"bucket hash must be one of {', '.join(SUPPORTED_HASHES)}, not {self.algorithm!r}")
        if self.hex_chars < 0:
            raise ValueError("bucket hex chars must be 0 (whole digest) or more")

    def hash_id(self, passenger_id: str) -> str:
        """H(passenger_id): the hex digest the backend logs as `passenger_hash`."""
        return hashlib.new(self.algorithm, passenger_id.encode("utf-8")).hexdigest()

    def bucket_of_hash(self, passenger_hash: str) -> int:
        """bucket = int(H(id)[:N], 16) % 100, from an already hashed id."""
        digits = passenger_hash[: self.hex_chars] if self.hex_chars else passenger_hash
        return int(digits, 16) % 100

    def bucket(self, passenger_id: str) -> int:
        return self.bucket_of_hash(self.hash_id(passenger_id))


def resolve_hash(
    config: FlagConfig, passenger_hash: str, allowlist_hashes: frozenset[str], bucketer: Bucketer
) -> Decision:
    """What the backend decides for a hashed passenger under `config`."""
    if not config.enabled:
        return Decision.OFF
    if passenger_hash in allowlist_hashes:
        return Decision.ALLOWLIST
    if bucketer.bucket_of_hash(passenger_hash) < config.rollout_percentage:
        return Decision.ROLLOUT
    return Decision.OFF


def resolve(config: FlagConfig, passenger_id: str, bucketer: Bucketer) -> Decision:
    """What the backend decides for a raw passenger id under `config`."""
    allow = frozenset(bucketer.hash_id(p) for p in config.allowlist)
    return resolve_hash(config, bucketer.hash_id(passenger_id), allow, bucketer)


def short_hash(passenger_hash: str) -> str:
    """A shortened hash for evidence: enough to grep the logs, too short to be the identifier itself."""
    return passenger_hash[:12]
