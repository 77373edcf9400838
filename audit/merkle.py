"""RFC 9162 Merkle tree hashing, incremental, with inclusion and consistency proofs.

Pure functions and small classes: no database, no Flask. A leaf hash is
``SHA-256(0x00 || entry)``, an interior node ``SHA-256(0x01 || left || right)``, and the
tree over ``n`` leaves splits at the largest power of two below ``n`` (RFC 9162 §2.1.1).

Every node of such a tree covers a range ``[start, end)`` whose left part is a *perfect*
subtree: ``2**level`` leaves starting at a multiple of ``2**level``. Perfect subtrees are
the only nodes the log stores (:class:`Frontier` reports each one as it completes);
every other node, on the right edge of a tree whose size is not a power of two, is folded
from the perfect subtrees that tile its range (:func:`perfect_parts`). Proofs are built in
two steps: :func:`inclusion_ranges` / :func:`consistency_ranges` say which ranges the
proof needs (no hashing), and :func:`range_hash` hashes each from stored perfect nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: ``(level, index)`` of a perfect subtree: leaves ``[index * 2**level, (index+1) * 2**level)``.
Node = tuple[int, int]
#: Returns the hash of a perfect subtree.
NodeLookup = Callable[[int, int], bytes]


def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash of one serialised entry."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than ``n`` (``n`` >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of_leaves(leaves: Sequence[bytes]) -> bytes:
    """Reference MTH over leaf hashes, recursive as in the RFC (tests and small trees)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root_of_leaves(leaves[:k]), root_of_leaves(leaves[k:]))


class Frontier:
    """The right edge of a growing tree: one perfect subtree root per set bit of its size.

    Appending a leaf costs O(log n) hashes at worst and one on average; the tree is never
    rebuilt. :meth:`append` returns the hashes of the perfect subtrees the leaf completed
    (levels 1, 2, ... in order), which the log stores beside the leaf.
    """

    __slots__ = ("_hashes", "_levels", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        levels = self.levels_for(size)
        if len(levels) != len(hashes):
            raise ValueError(f"a tree of size {size} needs {len(levels)} frontier hashes")
        self.size = size
        self._levels = levels
        self._hashes = list(hashes)

    @staticmethod
    def levels_for(size: int) -> list[int]:
        """Levels of the frontier's subtrees, left to right: the set bits of ``size``."""
        return [bit for bit in range(size.bit_length() - 1, -1, -1) if size >> bit & 1]

    @staticmethod
    def nodes_for(size: int) -> list[Node]:
        """The perfect subtrees (left to right) whose roots form the frontier of ``size``."""
        out: list[Node] = []
        start = 0
        for bit in range(size.bit_length() - 1, -1, -1):
            if size >> bit & 1:
                out.append((bit, start >> bit))
                start += 1 << bit
        return out

    def append(self, leaf: bytes) -> list[bytes]:
        """Add a leaf hash; return the hashes of the perfect subtrees it completed."""
        levels, hashes = self._levels, self._hashes
        completed: list[bytes] = []
        level, current = 0, leaf
        while levels and levels[-1] == level:
            levels.pop()
            current = node_hash(hashes.pop(), current)
            level += 1
            completed.append(current)
        levels.append(level)
        hashes.append(current)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """Root hash of the tree so far."""
        if not self._hashes:
            return EMPTY_ROOT
        acc = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def hashes(self) -> list[bytes]:
        """The frontier hashes, left to right (largest subtree first)."""
        return list(self._hashes)

    def copy(self) -> Frontier:
        """An independent copy."""
        return Frontier(self.size, self._hashes)


# -- which nodes a proof needs ---------------------------------------------------------------


def perfect_parts(start: int, end: int) -> list[Node]:
    """The perfect subtrees that tile ``[start, end)``, largest first.

    Valid for every range that is a node of some RFC 9162 tree (``start`` is a multiple
    of the largest power of two not above ``end - start``), which all proof ranges are.
    """
    out: list[Node] = []
    pos = start
    size = end - start
    for bit in range(size.bit_length() - 1, -1, -1):
        if size >> bit & 1:
            out.append((bit, pos >> bit))
            pos += 1 << bit
    return out


def range_hash(start: int, end: int, lookup: NodeLookup) -> bytes:
    """MTH of leaves ``[start, end)`` folded from the perfect subtrees that tile it."""
    parts = perfect_parts(start, end)
    acc = lookup(*parts[-1])
    for level, index in reversed(parts[:-1]):
        acc = node_hash(lookup(level, index), acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Ranges whose hashes form the audit path of leaf ``index`` in a tree of ``size``.

    RFC 9162 §2.1.3.1, bottom-up order (the leaf's sibling first).
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    path.reverse()
    return path


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """Ranges whose hashes prove the tree of size ``old`` is a prefix of the one of ``new``.

    RFC 9162 §2.1.4.1, in the RFC's order. Empty when ``old`` is 0 or equals ``new``.
    """
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    if old in (0, new):
        return []
    out: list[tuple[int, int]] = []
    start, end, complete = 0, new, True
    m = old
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
            m -= k
            complete = False
    if not complete:
        out.append((start, end))
    out.reverse()
    return out


def needed_nodes(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    """Every perfect subtree that :func:`range_hash` will look up for ``ranges``."""
    return {node for start, end in ranges for node in perfect_parts(start, end)}


def hash_ranges(ranges: Sequence[tuple[int, int]], nodes: Mapping[Node, bytes]) -> list[bytes]:
    """Hash each range from a mapping of perfect subtree hashes."""
    return [range_hash(start, end, lambda lv, ix: nodes[(lv, ix)]) for start, end in ranges]


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------------------


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index``; ValueError if malformed."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if len(p) != HASH_SIZE:
            raise ValueError("proof hash of the wrong length")
        if sn == 0:
            raise ValueError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """True if ``proof`` shows ``leaf`` at ``index`` in the tree of ``size`` with ``root``."""
    if len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    try:
        return root_from_inclusion(index, size, leaf, proof) == root
    except ValueError:
        return False


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True if ``proof`` shows the tree (``old``, ``old_root``) is a prefix of (``new``, ...)."""
    if not 0 <= old <= new or any(len(p) != HASH_SIZE for p in proof):
        return False
    if len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # old is a power of two: its root is the first node
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
