"""C2SP tlog-tiles layout: tile paths, tile bytes and entry bundles.

A tile ``(L, N)`` holds up to 256 hashes of tree level ``8*L``, indices
``N*256 ..``. careledger stores each tile as one blob: the C2SP bytes (the
base row) followed by the tile's seven inner rows, so that every complete
subtree hash is stored and a proof is a handful of reads. The C2SP bytes of
a tile of width W are the blob's first ``W*32`` bytes; a partial tile of
width W is a prefix of every wider version of the same tile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain

from .errors import LedgerError
from .hashing import HASH_SIZE, node_hash, pair_hashes

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileEdge",
    "TilePath",
    "TileRows",
    "encode_entry_bundle",
    "format_tile_path",
    "node_location",
    "parse_entry_bundle",
    "parse_tile_path",
    "tile_hash_at",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY_SIZE = 0xFFFF  # an entry bundle frames each entry with a uint16 length


def node_location(level: int, index: int) -> tuple[int, int, int, int]:
    """Where subtree ``(level, index)`` is stored: (tile level, tile index, row, position)."""
    tile_level, row = divmod(level, TILE_HEIGHT)
    shift = TILE_HEIGHT - row
    tile_index = index >> shift
    return tile_level, tile_index, row, index - (tile_index << shift)


#: _ROW_OFFSETS[width][row]: how many hashes precede ``row`` in a tile blob of ``width``.
_ROW_OFFSETS = tuple(
    tuple(sum(width >> r for r in range(row)) for row in range(TILE_HEIGHT))
    for width in range(TILE_WIDTH + 1)
)


def tile_hash_at(blob: bytes, width: int, row: int, position: int) -> bytes:
    """The hash at ``(row, position)`` of a stored tile blob of the given width.

    Requires ``position < width >> row``; raises ``LedgerError`` otherwise,
    since that means storage holds less than the head claims.
    """
    if position >= width >> row:
        raise LedgerError(f"tile of width {width} has no node at row {row}, position {position}")
    start = (_ROW_OFFSETS[width][row] + position) * HASH_SIZE
    return blob[start : start + HASH_SIZE]


@dataclass
class TileRows:
    """A tile being built: ``rows[0]`` is the base, ``rows[r]`` the complete nodes r levels up."""

    rows: list[list[bytes]] = field(default_factory=lambda: [[] for _ in range(TILE_HEIGHT)])

    @classmethod
    def from_blob(cls, blob: bytes, width: int) -> TileRows:
        rows: list[list[bytes]] = []
        offset = 0
        for r in range(TILE_HEIGHT):
            count = width >> r
            rows.append(
                [
                    blob[(offset + i) * HASH_SIZE : (offset + i + 1) * HASH_SIZE]
                    for i in range(count)
                ]
            )
            offset += count
        if offset * HASH_SIZE != len(blob):
            raise LedgerError(f"tile blob of {len(blob)} bytes does not fit width {width}")
        return cls(rows)

    @property
    def width(self) -> int:
        return len(self.rows[0])

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    def extend(self, base_hashes: Iterable[bytes]) -> None:
        """Append base hashes, computing only the inner nodes they complete.

        Requires the result to be at most 256 wide.
        """
        self.rows[0].extend(base_hashes)
        if self.width > TILE_WIDTH:
            raise ValueError("a tile holds at most 256 hashes")
        for r in range(1, TILE_HEIGHT):
            below, row = self.rows[r - 1], self.rows[r]
            row.extend(pair_hashes(below, len(row), len(below) // 2))

    def root(self) -> bytes:
        """Hash of the full tile's subtree (a base hash one tile level up). Requires ``full``."""
        if not self.full:
            raise ValueError("only a full tile has a root")
        top = self.rows[TILE_HEIGHT - 1]
        return node_hash(top[0], top[1])

    def blob(self) -> bytes:
        return b"".join(chain.from_iterable(self.rows))


class TileEdge:
    """The right edge of a tiled tree: the open (not yet full) tile of every tile level.

    ``add`` feeds hashes into a level, completes tiles and carries each full
    tile's root up to the next level. Shared by appending and by the
    verifier's recomputation, so both build tiles the same way.
    """

    def __init__(self, open_tiles: dict[int, tuple[int, TileRows]] | None = None) -> None:
        self.open_tiles: dict[int, tuple[int, TileRows]] = dict(open_tiles or {})

    def add(self, level: int, hashes: Sequence[bytes]) -> list[tuple[int, int, TileRows]]:
        """Append ``hashes`` at tile level ``level``; return the tiles this filled, in order."""
        tile_index, tile = self.open_tiles.get(level, (0, TileRows()))
        filled: list[tuple[int, int, TileRows]] = []
        start = 0
        while start < len(hashes):
            take = min(TILE_WIDTH - tile.width, len(hashes) - start)
            tile.extend(hashes[start : start + take])
            start += take
            if tile.full:
                filled.append((level, tile_index, tile))
                tile_index, tile = tile_index + 1, TileRows()
        self.open_tiles[level] = (tile_index, tile)
        roots = [t.root() for _, _, t in filled]
        if roots:
            filled.extend(self.add(level + 1, roots))
        return filled

    def partial_tiles(self) -> list[tuple[int, int, TileRows]]:
        """The open tiles that hold at least one hash, lowest level first."""
        return [
            (level, index, tile)
            for level, (index, tile) in sorted(self.open_tiles.items())
            if tile.width
        ]


@dataclass(frozen=True)
class TilePath:
    """A parsed ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` path.

    ``level`` is None for entry bundles; ``width`` is 256 for a full tile.
    """

    level: int | None
    index: int
    width: int


def _format_index(index: int) -> str:
    groups = []
    while True:
        index, rest = divmod(index, 1000)
        groups.append(f"{rest:03d}")
        if index == 0:
            break
    groups.reverse()
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def format_tile_path(level: int | None, index: int, width: int = TILE_WIDTH) -> str:
    """C2SP path of a tile (``level`` an int) or an entry bundle (``level`` None)."""
    if not 0 < width <= TILE_WIDTH or index < 0:
        raise ValueError(f"bad tile index {index} or width {width}")
    head = "tile/entries" if level is None else f"tile/{level}"
    partial = "" if width == TILE_WIDTH else f".p/{width}"
    return f"{head}/{_format_index(index)}{partial}"


_TILE_PATH = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]{0,1})/"
    r"(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> TilePath:
    """Parse a C2SP tile path strictly. Raises ``LedgerError`` on anything else."""
    match = _TILE_PATH.fullmatch(path)
    if match is None:
        raise LedgerError(f"not a tile path: {path!r}")
    groups = match["index"].split("/")
    if len(groups) > 1 and groups[0] == "x000":
        raise LedgerError(f"tile index has a leading zero group: {path!r}")
    index = int("".join(g.lstrip("x") for g in groups))
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    if match["width"] and width >= TILE_WIDTH:
        raise LedgerError(f"partial tile width must be 1..255: {path!r}")
    level = None if match["level"] == "entries" else int(match["level"])
    return TilePath(level, index, width)


def encode_entry_bundle(leaves: Sequence[bytes]) -> bytes:
    """C2SP entry bundle: each entry as a big-endian uint16 length and its bytes."""
    parts = []
    for leaf in leaves:
        if len(leaf) > MAX_ENTRY_SIZE:
            raise ValueError("entry longer than 65535 bytes")
        parts.append(len(leaf).to_bytes(2, "big"))
        parts.append(leaf)
    return b"".join(parts)


def parse_entry_bundle(data: bytes) -> list[bytes]:
    """Split an entry bundle into its entries. Raises ``LedgerError`` if truncated."""
    leaves, offset = [], 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise LedgerError("entry bundle truncated in a length prefix")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise LedgerError("entry bundle truncated in an entry")
        leaves.append(data[offset : offset + length])
        offset += length
    return leaves
