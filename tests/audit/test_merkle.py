"""RFC 9162 Merkle hashing and proofs, checked against the RFC's own definitions.

The reference below is the RFC written out as it reads: MTH (§2.1.1), PATH (§2.1.3.1)
and PROOF / SUBPROOF (§2.1.4.1), recursive, sharing no code with :mod:`audit.merkle`.
The module must agree with it for every tree size up to 70, for random sizes up to
2000, and for sizes past 2**20 on a tree whose subtree hashes are computed lazily.
Known answers come from the RFC's worked example (§2.1.5) and from the Certificate
Transparency reference vectors (transparency-dev/merkle ``testonly/constants.go``), both
recomputed here with :mod:`hashlib` before they are compared.

Entries are invented byte strings (``b"entry 17"``); nothing here touches a database.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.merkle import Frontier

# -- the RFC, written out --------------------------------------------------------------------

Mth = Callable[[int, int], bytes]  # MTH of the entries [start, end) of one tree


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_leaf(entry: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return _sha256(b"\x00" + entry)


def ref_node(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return _sha256(b"\x01" + left + right)


def _k(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` > 1), by doubling."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(entries: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1, over the entries themselves."""
    n = len(entries)
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return ref_leaf(entries[0])
    k = _k(n)
    return ref_node(ref_mth(entries[:k]), ref_mth(entries[k:]))


def ref_path(m: int, start: int, end: int, mth: Mth) -> list[bytes]:
    """PATH(m, D[start:end]), RFC 9162 §2.1.3.1 (``m`` counts from ``start``)."""
    n = end - start
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, start, start + k, mth), mth(start + k, end)]
    return [*ref_path(m - k, start + k, end, mth), mth(start, start + k)]


def ref_sides(m: int, n: int) -> list[str]:
    """Which side each PATH(m, D[n]) hash sits on ("L"/"R"): the shape a verifier follows."""
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_sides(m, k), "R"]
    return [*ref_sides(m - k, n - k), "L"]


def ref_proof(m: int, n: int, mth: Mth) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true), RFC 9162 §2.1.4.1; empty from size 0."""
    if m == 0:
        return []
    return _ref_subproof(m, 0, n, True, mth)


def _ref_subproof(m: int, start: int, end: int, b: bool, mth: Mth) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if b else [mth(start, end)]
    k = _k(n)
    if m <= k:
        return [*_ref_subproof(m, start, start + k, b, mth), mth(start + k, end)]
    return [*_ref_subproof(m - k, start + k, end, False, mth), mth(start, start + k)]


# -- one tree of invented entries, for every size up to MAX_SIZE ----------------------------

MAX_SIZE = 2048
ENTRIES = [b"entry %d" % i for i in range(MAX_SIZE)]
LEAVES = [ref_leaf(e) for e in ENTRIES]


@functools.cache
def entries_mth(start: int, end: int) -> bytes:
    """MTH(ENTRIES[start:end]), the RFC recursion memoised by range."""
    n = end - start
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return LEAVES[start]
    k = _k(n)
    return ref_node(entries_mth(start, start + k), entries_mth(start + k, end))


def _perfect_nodes(leaves: Sequence[bytes]) -> dict[merkle.Node, bytes]:
    """Every perfect subtree ``(level, index)`` over ``leaves``, built level by level."""
    nodes = {(0, i): leaf for i, leaf in enumerate(leaves)}
    row, level = list(leaves), 0
    while len(row) > 1:
        row = [ref_node(row[2 * i], row[2 * i + 1]) for i in range(len(row) // 2)]
        level += 1
        nodes.update({(level, i): h for i, h in enumerate(row)})
    return nodes


NODES = _perfect_nodes(LEAVES)


def stored_lookup(size: int) -> merkle.NodeLookup:
    """What a log of ``size`` entries has stored; a node beyond the tree is an error."""

    def lookup(level: int, index: int) -> bytes:
        assert index >= 0
        assert (index + 1) << level <= size, f"node {(level, index)} is outside size {size}"
        return NODES[(level, index)]

    return lookup


def inclusion_proof(index: int, size: int) -> list[bytes]:
    lookup = stored_lookup(size)
    return [merkle.range_hash(s, e, lookup) for s, e in merkle.inclusion_ranges(index, size)]


def consistency_proof(old: int, new: int) -> list[bytes]:
    lookup = stored_lookup(new)
    return [merkle.range_hash(s, e, lookup) for s, e in merkle.consistency_ranges(old, new)]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _every_bit_flipped(data: bytes) -> Iterator[bytes]:
    for bit in range(len(data) * 8):
        yield _flip(data, bit)


SMALL = range(1, 71)
EXTRA = _sha256(b"not part of any proof")


# -- known answers ---------------------------------------------------------------------------


def test_leaf_hash_is_sha256_of_0x00_then_the_entry() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.leaf_hash(b"entry 1") == hashlib.sha256(b"\x00entry 1").digest()


def test_node_hash_is_sha256_of_0x01_then_left_then_right() -> None:
    left, right = _sha256(b"left"), _sha256(b"right")

    assert merkle.node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert merkle.node_hash(left, right) != merkle.node_hash(right, left)


def test_the_empty_tree_has_the_root_sha256_of_nothing() -> None:
    nothing = hashlib.sha256(b"").digest()

    assert nothing == merkle.EMPTY_ROOT
    assert merkle.root_of_leaves([]) == nothing
    assert Frontier().root() == nothing


def test_small_trees_have_the_roots_computed_by_hand() -> None:
    def h(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    l0, l1, l2, l3, l4 = (h(b"\x00" + d) for d in (b"d0", b"d1", b"d2", b"d3", b"d4"))
    n01 = h(b"\x01" + l0 + l1)
    n23 = h(b"\x01" + l2 + l3)
    n0123 = h(b"\x01" + n01 + n23)
    expected = [l0, n01, h(b"\x01" + n01 + l2), n0123, h(b"\x01" + n0123 + l4)]
    leaves = [l0, l1, l2, l3, l4]

    for size, root in enumerate(expected, start=1):
        frontier = Frontier()
        for leaf in leaves[:size]:
            frontier.append(leaf)
        assert merkle.root_of_leaves(leaves[:size]) == root
        assert frontier.root() == root


# Published with the Certificate Transparency reference code (transparency-dev/merkle,
# testonly/constants.go): the leaf inputs and the root of every tree size 0..8.
CT_INPUTS = [
    bytes.fromhex(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    bytes.fromhex(x)
    for x in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]


@pytest.mark.parametrize("size", range(9))
def test_certificate_transparency_reference_roots(size: int) -> None:
    leaves = [merkle.leaf_hash(e) for e in CT_INPUTS[:size]]
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)

    assert ref_mth(CT_INPUTS[:size]) == CT_ROOTS[size]  # the reference agrees with CT
    assert merkle.root_of_leaves(leaves) == CT_ROOTS[size]
    assert frontier.root() == CT_ROOTS[size]


def _rfc_example() -> dict[str, bytes]:
    """The 7-entry tree drawn in RFC 9162 §2.1.5, its nodes named as in the RFC."""
    d = [b"d%d" % i for i in range(7)]
    t: dict[str, bytes] = {}
    for name, i in zip("abcdef", range(6), strict=True):
        t[name] = hashlib.sha256(b"\x00" + d[i]).digest()
    t["j"] = hashlib.sha256(b"\x00" + d[6]).digest()
    for name, left, right in (("g", "a", "b"), ("h", "c", "d"), ("i", "e", "f")):
        t[name] = hashlib.sha256(b"\x01" + t[left] + t[right]).digest()
    t["k"] = hashlib.sha256(b"\x01" + t["g"] + t["h"]).digest()
    t["l"] = hashlib.sha256(b"\x01" + t["i"] + t["j"]).digest()
    t["root"] = hashlib.sha256(b"\x01" + t["k"] + t["l"]).digest()
    t["hash0"] = hashlib.sha256(b"\x01" + t["g"] + t["c"]).digest()  # the tree of 3
    t["hash1"] = t["k"]  # the tree of 4
    t["hash2"] = hashlib.sha256(b"\x01" + t["k"] + t["i"]).digest()  # the tree of 6
    return t


@pytest.mark.parametrize(
    ("index", "names"),
    [(0, "bhl"), (3, "cgl"), (4, "fjk"), (6, "ik")],
)
def test_rfc_example_inclusion_proofs(index: int, names: str) -> None:
    t = _rfc_example()
    leaves = [t[name] for name in "abcdefj"]
    nodes = _perfect_nodes(leaves)
    ranges = merkle.inclusion_ranges(index, 7)

    proof = merkle.hash_ranges(ranges, {n: nodes[n] for n in merkle.needed_nodes(ranges)})

    assert proof == [t[name] for name in names]
    assert merkle.root_of_leaves(leaves) == t["root"]
    assert merkle.verify_inclusion(index, 7, leaves[index], proof, t["root"])


@pytest.mark.parametrize(
    ("old", "old_root", "names"),
    [(3, "hash0", "cdgl"), (4, "hash1", "l"), (6, "hash2", "ijk")],
)
def test_rfc_example_consistency_proofs(old: int, old_root: str, names: str) -> None:
    t = _rfc_example()
    leaves = [t[name] for name in "abcdefj"]
    nodes = _perfect_nodes(leaves)
    ranges = merkle.consistency_ranges(old, 7)

    proof = merkle.hash_ranges(ranges, {n: nodes[n] for n in merkle.needed_nodes(ranges)})

    assert proof == [t[name] for name in names]
    assert merkle.root_of_leaves(leaves[:old]) == t[old_root]
    assert merkle.verify_consistency(old, 7, t[old_root], t["root"], proof)


# -- every size up to 70 against the reference ------------------------------------------------


def test_root_of_leaves_is_the_rfc_mth_for_every_size() -> None:
    for size in range(71):
        assert merkle.root_of_leaves(LEAVES[:size]) == ref_mth(ENTRIES[:size]), size


def test_frontier_root_after_each_append_is_the_root_of_the_leaves_so_far() -> None:
    frontier = Frontier()
    for size in range(1, 71):
        frontier.append(LEAVES[size - 1])

        assert frontier.size == size
        assert frontier.root() == merkle.root_of_leaves(LEAVES[:size]), size


def test_append_returns_the_perfect_subtrees_the_leaf_completed_lowest_level_first() -> None:
    frontier = Frontier()
    for i in range(130):
        completed = frontier.append(LEAVES[i])

        # Leaf i completes the subtree of 2**level leaves ending at it, for each level
        # at which i + 1 is a multiple of 2**level.
        levels = range(1, ((i + 1) & -(i + 1)).bit_length())
        assert completed == [NODES[(lv, ((i + 1) >> lv) - 1)] for lv in levels], i


def test_frontier_hashes_are_the_subtrees_nodes_for_names() -> None:
    frontier = Frontier()
    for size in range(1, 130):
        frontier.append(LEAVES[size - 1])

        assert frontier.hashes() == [NODES[node] for node in Frontier.nodes_for(size)], size


@pytest.mark.parametrize("size", [*range(0, 40), 2**20 - 1, 2**20, 2**20 + 3, 2**63 + 5])
def test_nodes_for_tiles_the_tree_with_perfect_subtrees_largest_first(size: int) -> None:
    nodes = Frontier.nodes_for(size)

    start = 0
    for level, index in nodes:
        assert index << level == start  # contiguous and aligned
        start += 1 << level
    assert start == size
    assert [lv for lv, _ in nodes] == sorted({lv for lv, _ in nodes}, reverse=True)
    assert len(nodes) == bin(size).count("1")
    assert Frontier.levels_for(size) == [lv for lv, _ in nodes]


def test_a_frontier_rebuilt_from_stored_hashes_continues_the_same_tree() -> None:
    for size in range(0, 40):
        resumed = Frontier(size, [NODES[node] for node in Frontier.nodes_for(size)])

        for leaf in LEAVES[size:70]:
            resumed.append(leaf)

        assert resumed.root() == entries_mth(0, 70), size


def test_a_frontier_copy_grows_independently() -> None:
    original = Frontier()
    for leaf in LEAVES[:5]:
        original.append(leaf)

    copy = original.copy()
    copy.append(LEAVES[5])

    assert (original.size, original.root()) == (5, entries_mth(0, 5))
    assert (copy.size, copy.root()) == (6, entries_mth(0, 6))


@pytest.mark.parametrize(("size", "count"), [(0, 1), (1, 0), (1, 2), (5, 1), (5, 3), (8, 2)])
def test_frontier_refuses_the_wrong_number_of_hashes(size: int, count: int) -> None:
    with pytest.raises(ValueError, match=f"size {size} needs"):
        Frontier(size, LEAVES[:count])


def _proof_ranges(size: int) -> Iterator[tuple[int, int]]:
    yield 0, size
    for index in range(size):
        yield from merkle.inclusion_ranges(index, size)
    for old in range(size + 1):
        yield from merkle.consistency_ranges(old, size)


@pytest.mark.parametrize("size", SMALL)
def test_perfect_parts_tile_every_proof_range_largest_first(size: int) -> None:
    for start, end in set(_proof_ranges(size)):
        parts = merkle.perfect_parts(start, end)

        pos = start
        for level, index in parts:
            assert index << level == pos, (start, end)
            pos += 1 << level
        assert pos == end
        levels = [lv for lv, _ in parts]
        assert levels == sorted(set(levels), reverse=True)


@pytest.mark.parametrize("size", SMALL)
def test_range_hash_is_the_mth_of_every_proof_range(size: int) -> None:
    lookup = stored_lookup(size)
    for start, end in set(_proof_ranges(size)):
        assert merkle.range_hash(start, end, lookup) == entries_mth(start, end), (start, end)


@pytest.mark.parametrize("size", SMALL)
def test_inclusion_proofs_are_the_rfc_path_for_every_leaf(size: int) -> None:
    for index in range(size):
        expected = ref_path(index, 0, size, entries_mth)

        assert inclusion_proof(index, size) == expected, index


@pytest.mark.parametrize("size", SMALL)
def test_consistency_proofs_are_the_rfc_proof_for_every_older_size(size: int) -> None:
    for old in range(size + 1):
        expected = ref_proof(old, size, entries_mth)

        assert consistency_proof(old, size) == expected, old


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 31, 64, 65, 70])
def test_hash_ranges_needs_only_the_nodes_named_and_inside_the_tree(size: int) -> None:
    for old in range(size + 1):
        ranges = merkle.consistency_ranges(old, size)
        needed = merkle.needed_nodes(ranges)
        assert all((ix + 1) << lv <= size for lv, ix in needed)

        proof = merkle.hash_ranges(ranges, {node: NODES[node] for node in needed})

        assert proof == ref_proof(old, size, entries_mth)
    for index in range(size):
        ranges = merkle.inclusion_ranges(index, size)
        needed = merkle.needed_nodes(ranges)

        proof = merkle.hash_ranges(ranges, {node: NODES[node] for node in needed})

        assert proof == ref_path(index, 0, size, entries_mth)


@pytest.mark.parametrize("size", SMALL)
def test_needed_nodes_is_exactly_what_range_hash_looks_up(size: int) -> None:
    ranges = [
        *merkle.inclusion_ranges(size // 2, size),
        *merkle.consistency_ranges(min(3, size), size),
    ]
    seen: set[merkle.Node] = set()

    def recording(level: int, index: int) -> bytes:
        seen.add((level, index))
        return NODES[(level, index)]

    for start, end in ranges:
        merkle.range_hash(start, end, recording)

    assert seen == merkle.needed_nodes(ranges)


@pytest.mark.parametrize("size", SMALL)
def test_every_inclusion_proof_verifies(size: int) -> None:
    root = entries_mth(0, size)
    for index in range(size):
        proof = inclusion_proof(index, size)

        assert merkle.verify_inclusion(index, size, LEAVES[index], proof, root), index
        assert merkle.root_from_inclusion(index, size, LEAVES[index], proof) == root


@pytest.mark.parametrize("size", SMALL)
def test_every_consistency_proof_verifies(size: int) -> None:
    new_root = entries_mth(0, size)
    for old in range(size + 1):
        proof = consistency_proof(old, size)

        assert merkle.verify_consistency(old, size, entries_mth(0, old), new_root, proof), old


@pytest.mark.parametrize("size", range(2, 33))
def test_an_inclusion_proof_claimed_for_another_index_fails(size: int) -> None:
    root = entries_mth(0, size)
    for index in range(size):
        proof = inclusion_proof(index, size)
        for other in range(size):
            if other != index:
                # the right leaf at the wrong place, and the wrong leaf at the right place
                assert not merkle.verify_inclusion(other, size, LEAVES[index], proof, root)
                assert not merkle.verify_inclusion(index, size, LEAVES[other], proof, root)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (4, 3), (-1, 3)])
def test_inclusion_ranges_refuse_a_leaf_outside_the_tree(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_ranges(index, size)
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.root_from_inclusion(index, size, LEAVES[0], [])
    assert not merkle.verify_inclusion(index, size, LEAVES[0], [], entries_mth(0, 3))


@pytest.mark.parametrize(("old", "new"), [(3, 2), (-1, 2), (-2, -1), (1, 0)])
def test_consistency_ranges_refuse_a_shrinking_or_negative_size(old: int, new: int) -> None:
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_ranges(old, new)
    assert not merkle.verify_consistency(old, new, entries_mth(0, 2), entries_mth(0, 2), [])


def test_consistency_from_empty_or_to_the_same_size_needs_no_proof() -> None:
    for size in range(0, 20):
        root = entries_mth(0, size)

        assert merkle.consistency_ranges(0, size) == []
        assert merkle.consistency_ranges(size, size) == []
        assert merkle.verify_consistency(0, size, merkle.EMPTY_ROOT, root, [])
        assert merkle.verify_consistency(size, size, root, root, [])
        # ... and refuses a proof where none is due, or another root
        assert not merkle.verify_consistency(0, size, merkle.EMPTY_ROOT, root, [EXTRA])
        assert not merkle.verify_consistency(size, size, root, root, [EXTRA])
        assert not merkle.verify_consistency(size, size, root, EXTRA, [])
        if size:
            assert not merkle.verify_consistency(0, size, root, root, [])


# -- tampering, exhaustively on one proof of each kind ----------------------------------------


def test_every_single_flipped_bit_breaks_an_inclusion_proof() -> None:
    index, size = 6, 13
    leaf, root = LEAVES[index], entries_mth(0, size)
    proof = inclusion_proof(index, size)
    assert merkle.verify_inclusion(index, size, leaf, proof, root)

    for i, h in enumerate(proof):
        for bad in _every_bit_flipped(h):
            assert not merkle.verify_inclusion(
                index, size, leaf, [*proof[:i], bad, *proof[i + 1 :]], root
            )
    for bad in _every_bit_flipped(leaf):
        assert not merkle.verify_inclusion(index, size, bad, proof, root)
    for bad in _every_bit_flipped(root):
        assert not merkle.verify_inclusion(index, size, leaf, proof, bad)


@pytest.mark.parametrize(("old", "new"), [(5, 13), (4, 13), (8, 9), (1, 2)])
def test_every_single_flipped_bit_breaks_a_consistency_proof(old: int, new: int) -> None:
    old_root, new_root = entries_mth(0, old), entries_mth(0, new)
    proof = consistency_proof(old, new)
    assert merkle.verify_consistency(old, new, old_root, new_root, proof)

    for i, h in enumerate(proof):
        for bad in _every_bit_flipped(h):
            tampered = [*proof[:i], bad, *proof[i + 1 :]]
            assert not merkle.verify_consistency(old, new, old_root, new_root, tampered)
    for bad in _every_bit_flipped(old_root):
        assert not merkle.verify_consistency(old, new, bad, new_root, proof)
    for bad in _every_bit_flipped(new_root):
        assert not merkle.verify_consistency(old, new, old_root, bad, proof)


# -- random trees up to MAX_SIZE (hypothesis) -------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None, database=None)


@st.composite
def leaf_in_tree(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=1, max_value=MAX_SIZE))
    return draw(st.integers(min_value=0, max_value=size - 1)), size


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(min_value=0, max_value=MAX_SIZE))
    return draw(st.integers(min_value=0, max_value=new)), new


@PROPERTY
@given(where=leaf_in_tree(), target=st.integers(min_value=0), bit=st.integers(0, 255))
def test_random_inclusion_proofs_verify_and_one_flipped_bit_anywhere_fails(
    where: tuple[int, int], target: int, bit: int
) -> None:
    index, size = where
    leaf, root = LEAVES[index], entries_mth(0, size)
    proof = inclusion_proof(index, size)
    assert proof == ref_path(index, 0, size, entries_mth)
    assert merkle.verify_inclusion(index, size, leaf, proof, root)

    slot = target % (len(proof) + 2)  # a proof hash, the leaf, or the root
    if slot < len(proof):
        proof = [*proof[:slot], _flip(proof[slot], bit), *proof[slot + 1 :]]
    elif slot == len(proof):
        leaf = _flip(leaf, bit)
    else:
        root = _flip(root, bit)

    assert not merkle.verify_inclusion(index, size, leaf, proof, root)


@PROPERTY
@given(sizes=two_sizes(), target=st.integers(min_value=0), bit=st.integers(0, 255))
def test_random_consistency_proofs_verify_and_one_flipped_bit_anywhere_fails(
    sizes: tuple[int, int], target: int, bit: int
) -> None:
    old, new = sizes
    old_root, new_root = entries_mth(0, old), entries_mth(0, new)
    proof = consistency_proof(old, new)
    assert proof == ref_proof(old, new, entries_mth)
    assert merkle.verify_consistency(old, new, old_root, new_root, proof)

    # From the empty tree every tree is consistent: only the empty root is checked then.
    slots = len(proof) + (1 if old == 0 else 2)
    slot = target % slots  # a proof hash, the old root, or the new root
    if slot < len(proof):
        proof = [*proof[:slot], _flip(proof[slot], bit), *proof[slot + 1 :]]
    elif slot == len(proof):
        old_root = _flip(old_root, bit)
    else:
        new_root = _flip(new_root, bit)

    assert not merkle.verify_consistency(old, new, old_root, new_root, proof)


@PROPERTY
@given(where=leaf_in_tree(), data=st.data())
def test_an_inclusion_proof_verifies_only_for_an_index_and_size_of_the_same_shape(
    where: tuple[int, int], data: st.DataObject
) -> None:
    index, size = where
    proof, root = inclusion_proof(index, size), entries_mth(0, size)
    other_size = data.draw(st.integers(min_value=1, max_value=MAX_SIZE), "other size")
    other_index = data.draw(st.integers(min_value=0, max_value=other_size - 1), "other index")

    verified = merkle.verify_inclusion(other_index, other_size, LEAVES[index], proof, root)

    # The verifier follows the path's shape only: (0, 3) and (0, 4) share it, and
    # RFC 9162 leaves binding the size to the signed tree head.
    assert verified == (ref_sides(other_index, other_size) == ref_sides(index, size))


@PROPERTY
@given(where=leaf_in_tree(), cut=st.integers(min_value=0))
def test_an_inclusion_proof_one_hash_too_long_or_too_short_fails(
    where: tuple[int, int], cut: int
) -> None:
    index, size = where
    leaf, root = LEAVES[index], entries_mth(0, size)
    proof = inclusion_proof(index, size)

    for longer in ([*proof, EXTRA], [EXTRA, *proof], [*proof, proof[-1]] if proof else [EXTRA]):
        assert not merkle.verify_inclusion(index, size, leaf, longer, root)
    if proof:
        i = cut % len(proof)
        assert not merkle.verify_inclusion(index, size, leaf, proof[:i] + proof[i + 1 :], root)


@PROPERTY
@given(sizes=two_sizes(), data=st.data())
def test_a_consistency_proof_of_the_wrong_length_for_the_sizes_fails(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    old, new = sizes
    old_root, new_root = entries_mth(0, old), entries_mth(0, new)
    proof = consistency_proof(old, new)
    other_new = data.draw(st.integers(min_value=1, max_value=MAX_SIZE), "other new")
    other_old = data.draw(st.integers(min_value=1, max_value=other_new), "other old")

    for longer in ([*proof, EXTRA], [EXTRA, *proof]):
        assert not merkle.verify_consistency(old, new, old_root, new_root, longer)
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), "cut")
        shorter = proof[:i] + proof[i + 1 :]
        assert not merkle.verify_consistency(old, new, old_root, new_root, shorter)
    if len(ref_proof(other_old, other_new, entries_mth)) != len(proof):
        assert not merkle.verify_consistency(other_old, other_new, old_root, new_root, proof)


@PROPERTY
@given(where=leaf_in_tree(), sizes=two_sizes(), target=st.integers(min_value=0))
def test_hashes_of_the_wrong_length_fail_without_raising(
    where: tuple[int, int], sizes: tuple[int, int], target: int
) -> None:
    index, size = where
    leaf, root = LEAVES[index], entries_mth(0, size)
    proof = inclusion_proof(index, size)
    old, new = sizes
    old_root, new_root = entries_mth(0, old), entries_mth(0, new)
    cproof = consistency_proof(old, new)

    for resize in (lambda h: h[:-1], lambda h: h + b"\x00", lambda h: b""):
        if proof:
            i = target % len(proof)
            bad = [*proof[:i], resize(proof[i]), *proof[i + 1 :]]
            assert not merkle.verify_inclusion(index, size, leaf, bad, root)
        assert not merkle.verify_inclusion(index, size, resize(leaf), proof, root)
        assert not merkle.verify_inclusion(index, size, leaf, proof, resize(root))
        if cproof:
            i = target % len(cproof)
            bad = [*cproof[:i], resize(cproof[i]), *cproof[i + 1 :]]
            assert not merkle.verify_consistency(old, new, old_root, new_root, bad)
            assert not merkle.verify_consistency(old, new, resize(old_root), new_root, cproof)
            assert not merkle.verify_consistency(old, new, old_root, resize(new_root), cproof)


def test_inclusion_proof_errors_are_reported_by_root_from_inclusion() -> None:
    proof = inclusion_proof(5, 13)

    with pytest.raises(ValueError, match="too long"):
        merkle.root_from_inclusion(5, 13, LEAVES[5], [*proof, EXTRA])
    with pytest.raises(ValueError, match="too short"):
        merkle.root_from_inclusion(5, 13, LEAVES[5], proof[:-1])
    with pytest.raises(ValueError, match="wrong length"):
        merkle.root_from_inclusion(5, 13, LEAVES[5], [proof[0][:31], *proof[1:]])


@pytest.mark.parametrize(
    "case",
    ["inclusion in a tree of one", "consistency at the same size", "consistency from empty"],
)
def test_hashes_of_the_wrong_length_fail_even_when_they_match_each_other(case: str) -> None:
    short = b"\x07" * 31
    if case == "inclusion in a tree of one":
        verified = merkle.verify_inclusion(0, 1, short, [], short)
    elif case == "consistency at the same size":
        verified = merkle.verify_consistency(3, 3, short, short, [])
    else:
        verified = merkle.verify_consistency(0, 3, merkle.EMPTY_ROOT, short, [])

    assert not verified


# -- trees past 2**20 entries, hashed lazily --------------------------------------------------
#
# Entry i is b"periodic entry %d" % (i mod 64), so a perfect subtree of 64 or more leaves
# has the same hash wherever it sits, and any node of a tree of 2**64 entries is a few
# cached hashes away. Different leaves then share content, so these tests leave wrong
# indices to the trees above and check sizes, proofs, verification and tampering.

PERIOD_BITS = 6


@functools.cache
def _periodic_canonical(level: int, index: int) -> bytes:
    if level == 0:
        return ref_leaf(b"periodic entry %d" % index)
    return ref_node(periodic_node(level - 1, 2 * index), periodic_node(level - 1, 2 * index + 1))


def periodic_node(level: int, index: int) -> bytes:
    """The perfect subtree (level, index) of the periodic tree."""
    return _periodic_canonical(level, index % (1 << max(PERIOD_BITS - level, 0)))


@functools.cache
def periodic_mth(start: int, end: int) -> bytes:
    """MTH of the periodic entries [start, end), the RFC recursion."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        return periodic_node(n.bit_length() - 1, start // n)
    k = _k(n)
    return ref_node(periodic_mth(start, start + k), periodic_mth(start + k, end))


def periodic_lookup(size: int) -> merkle.NodeLookup:
    def lookup(level: int, index: int) -> bytes:
        assert index >= 0 and (index + 1) << level <= size, (level, index, size)
        return periodic_node(level, index)

    return lookup


LARGE = st.integers(min_value=2**20, max_value=2**64)
LARGE_PROPERTY = settings(max_examples=60, deadline=None, database=None)


@LARGE_PROPERTY
@given(size=LARGE, data=st.data())
@example(size=2**20 + 3, data=None)
@example(size=2**20, data=None)
@example(size=2**32 + 1, data=None)
def test_large_tree_inclusion_proofs_match_the_rfc_and_verify(
    size: int, data: st.DataObject | None
) -> None:
    index = size - 1 if data is None else data.draw(st.integers(0, size - 1), "index")
    lookup = periodic_lookup(size)
    ranges = merkle.inclusion_ranges(index, size)
    proof = [merkle.range_hash(s, e, lookup) for s, e in ranges]
    leaf, root = periodic_node(0, index), periodic_mth(0, size)

    assert proof == ref_path(index, 0, size, periodic_mth)
    assert merkle.verify_inclusion(index, size, leaf, proof, root)
    for i in range(len(proof)):
        tampered = [*proof[:i], _flip(proof[i], (i * 37) % 256), *proof[i + 1 :]]
        assert not merkle.verify_inclusion(index, size, leaf, tampered, root)
    assert not merkle.verify_inclusion(index, size, _flip(leaf, 200), proof, root)
    assert not merkle.verify_inclusion(index, size, leaf, proof, _flip(root, 9))
    assert not merkle.verify_inclusion(index, size, leaf, proof[:-1], root)
    assert not merkle.verify_inclusion(index, size, leaf, [*proof, EXTRA], root)


@LARGE_PROPERTY
@given(new=LARGE, data=st.data())
@example(new=2**20 + 3, data=None)
@example(new=2**40, data=None)
def test_large_tree_consistency_proofs_match_the_rfc_and_verify(
    new: int, data: st.DataObject | None
) -> None:
    old = 2**20 + 1 if data is None else data.draw(st.integers(1, new), "old")
    lookup = periodic_lookup(new)
    proof = [merkle.range_hash(s, e, lookup) for s, e in merkle.consistency_ranges(old, new)]
    old_root, new_root = periodic_mth(0, old), periodic_mth(0, new)

    assert proof == ref_proof(old, new, periodic_mth)
    assert merkle.verify_consistency(old, new, old_root, new_root, proof)
    for i in range(len(proof)):
        tampered = [*proof[:i], _flip(proof[i], (i * 41) % 256), *proof[i + 1 :]]
        assert not merkle.verify_consistency(old, new, old_root, new_root, tampered)
    assert not merkle.verify_consistency(old, new, _flip(old_root, 3), new_root, proof)
    assert not merkle.verify_consistency(old, new, old_root, _flip(new_root, 250), proof)
    if proof:
        assert not merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])
        assert not merkle.verify_consistency(old, new, old_root, new_root, [*proof, EXTRA])
