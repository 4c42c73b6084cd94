"""The content model of disks: sparse maps of block index → block digest.

A disk of ``n`` GiB has ``n * 1024 / 4`` blocks of ``BLOCK_SIZE`` (4 MiB). A block never
written reads as zeros and is absent from the map. A guest write replaces a block's digest
with a fresh random one. Snapshots, copies and disks made from them hold the block map as
it was at their instant; maps are immutable (``MappingProxyType`` over a private dict), so
"capturing" a disk is just keeping a reference and writes make a new map.

The digest of a disk or snapshot is the SHA-256 of its sorted block map, so two resources
hold the same data exactly when their digests are equal.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping
from types import MappingProxyType

BLOCK_SIZE = 4 * 1024 * 1024
GIB = 1024 * 1024 * 1024

BlockMap = Mapping[int, str]

EMPTY: BlockMap = MappingProxyType({})


def block_count(size_gb: int) -> int:
    """How many blocks a disk of ``size_gb`` GiB holds."""
    return max(1, size_gb * GIB // BLOCK_SIZE)


def digest(blocks: BlockMap) -> str:
    """SHA-256 over the sorted (index, block digest) pairs."""
    h = hashlib.sha256()
    for index in sorted(blocks):
        h.update(f"{index}:{blocks[index]}\n".encode())
    return h.hexdigest()


def write(
    blocks: BlockMap,
    size_gb: int,
    rng: random.Random,
    *,
    count: int | None = None,
    offsets: Iterable[int] | None = None,
) -> BlockMap:
    """A new map with ``count`` random blocks (or the given block ``offsets``) rewritten."""
    limit = block_count(size_gb)
    if offsets is not None:
        indexes = list(offsets)
        for index in indexes:
            if not 0 <= index < limit:
                raise ValueError(f"block offset {index} is outside the disk (0..{limit - 1})")
    else:
        wanted = min(count or 0, limit)
        indexes = rng.sample(range(limit), wanted) if wanted < limit else list(range(limit))
    updated = dict(blocks)
    for index in indexes:
        updated[index] = f"{rng.getrandbits(128):032x}"
    return MappingProxyType(updated)


def changed_blocks(current: BlockMap, previous: BlockMap | None) -> int:
    """Blocks of ``current`` that differ from ``previous`` (all written blocks if none)."""
    if previous is None:
        return len(current)
    changed = sum(1 for index, value in current.items() if previous.get(index) != value)
    # A block present before and absent now was trimmed back to zeros: it changed too.
    changed += sum(1 for index in previous if index not in current)
    return changed
