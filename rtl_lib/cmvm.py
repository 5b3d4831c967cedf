"""Constant matrix-vector multiplication as one shared shift-and-add graph (pure Python, no Amaranth).

A product ``x * w`` with a constant ``w`` is a sum of shifted copies of ``x``: the canonical signed digits of
``w`` (:func:`csd`). A matrix-vector product is then, per output, a sum of *terms* ``(node, shift, sign)``. Many
outputs contain the same pair of terms up to a common shift (``x3 + (x7 << 2)`` in a dozen columns): computing the
pair once and using it everywhere saves an adder per extra use. :func:`share` finds such pairs greedily, the most
frequent first (the classic two-term common subexpression elimination that da4ml builds on; this is our own
implementation), until no pair occurs twice. Each output then adds its remaining terms in a tree that joins the
two shallowest terms first, so sharing costs as little adder depth as it can.

:class:`Graph` holds the nodes (inputs, constants, two-input adders, casts) with their adder level and an exact
integer range, hence their width; every node may be cut to a ``cap`` of low bits because the results wrap
(modular arithmetic: the low bits of a sum depend only on the low bits of its operands). :meth:`Graph.schedule`
places a node of level ``L`` in pipeline stage ``(L - 1) // levels_per_stage`` and counts the registers that carry
values across stages: the same numbers build the hardware (:class:`rtl_lib.da.DenseDA`) and the report.
"""

import heapq
from dataclasses import dataclass, field

import numpy as np

__all__ = ["csd", "Graph", "share", "reduce_terms", "Schedule"]

#: pair occurrences counted at most at once by :func:`share`; larger matrices are split into column blocks
PAIR_BUDGET = 4_000_000


def csd(w):
    """Canonical signed digits of integer ``w``: ``[(shift, sign)]`` with ``w = sum(sign << shift)``, no two
    adjacent shifts (non-adjacent form: the fewest non-zero digits)."""
    w = int(w)
    out, k = [], 0
    while w:
        if w & 1:
            d = 2 - (w & 3)  # +1 when w = 1 mod 4, -1 when w = 3 mod 4
            out.append((k, d))
            w -= d
        w >>= 1
        k += 1
    return out


def signed_bits(lo, hi):
    """Bits of a two's complement value holding every integer in ``[lo, hi]`` (as ``nn2rtl.fixed.range_type``
    with a sign; not imported from there, so that this module stays importable on its own)."""
    def bits(v):
        return (v.bit_length() if v >= 0 else (~v).bit_length()) + 1
    return max(bits(lo), bits(hi))


@dataclass
class Graph:
    """Nodes of a shift-and-add graph, each a tuple in ``ops``:

    - ``("in", i)``: input ``i``;
    - ``("const", c)``: the integer ``c``;
    - ``("add", a, sa, b, sb, sub)``: ``(a << sa) + (b << sb)``, or ``-`` when ``sub``;
    - ``("cast", a, shift, sign, k, rounding)``: ``sign * (a << shift)`` with ``k`` low bits dropped by
      ``rounding`` (a :class:`nn2rtl.fixed.Rounding`; ``k <= 0``: nothing dropped).

    ``level`` is the adder depth from the inputs, ``width`` the signed bits kept (the value wraps there),
    ``lo``/``hi`` the range of the kept value.
    """

    ops: list = field(default_factory=list)
    level: list = field(default_factory=list)
    width: list = field(default_factory=list)
    lo: list = field(default_factory=list)
    hi: list = field(default_factory=list)
    block: list = field(default_factory=list)
    _memo: dict = field(default_factory=dict)

    def _node(self, op, level, lo, hi, cap, block):
        key = op
        if key in self._memo:
            return self._memo[key]
        width = signed_bits(lo, hi)
        if cap is not None and width > cap:
            width = cap
            lo, hi = -(1 << (cap - 1)), (1 << (cap - 1)) - 1
        n = len(self.ops)
        self.ops.append(op)
        self.level.append(level)
        self.width.append(width)
        self.lo.append(lo)
        self.hi.append(hi)
        self.block.append(block)
        self._memo[key] = n
        return n

    def input(self, i, lo, hi, block=0):
        return self._node(("in", i), 0, lo, hi, None, block)

    def const(self, c):
        return self._node(("const", int(c)), 0, int(c), int(c), None, -1)

    def add(self, a, sa, b, sb, sub, cap=None):
        """``(a << sa) +- (b << sb)`` (one adder); the operands in a canonical order, so equal sums are one node."""
        if not sub and (b, sb) < (a, sa):
            a, sa, b, sb = b, sb, a, sa
        la, ha = self.lo[a] << sa, self.hi[a] << sa
        lb, hb = self.lo[b] << sb, self.hi[b] << sb
        lo, hi = (la - hb, ha - lb) if sub else (la + lb, ha + hb)
        block = self.block[a] if self.block[a] == self.block[b] or self.block[b] < 0 else self.block[b]
        return self._node(("add", a, sa, b, sb, bool(sub)), max(self.level[a], self.level[b]) + 1, lo, hi, cap,
                          block)

    def cast(self, a, shift, sign, k, rounding, adds, cap=None):
        """``sign * (a << shift)`` with ``k`` low bits rounded off; ``adds`` is the adder levels it takes (a
        negation, a rounding increment)."""
        lo, hi = self.lo[a] << shift, self.hi[a] << shift
        if sign < 0:
            lo, hi = -hi, -lo
        if k > 0:
            lo, hi = lo >> k, (hi >> k) + 1
        return self._node(("cast", a, shift, sign, k, rounding), self.level[a] + adds, lo, hi, cap, self.block[a])

    def schedule(self, roots, levels_per_stage):
        """The pipeline of the graph evaluated at ``roots`` (node ids, or None for an output that is a constant
        of the caller's): see :class:`Schedule`."""
        return Schedule(self, roots, levels_per_stage)


class Schedule:
    """Pipeline stages of a :class:`Graph` cut every ``levels_per_stage`` adder levels.

    Every root is registered at the end of the last stage, so the graph's ``latency`` is
    ``max(1, ceil(max root level / levels_per_stage))`` cycles. A node is computed (combinationally) as late as
    its users allow: at adder level ``A`` counted back from the end (``latency * levels_per_stage`` at the roots),
    in stage ``(A - 1) // levels_per_stage``, so no stage holds more than ``levels_per_stage`` adders in a row;
    inputs and constants are there from stage 0. A value used in a later stage than its own is carried by a chain
    of registers, one per stage, shared by all its users: ``delays[node]`` registers of ``width[node]`` bits.

    ``needed`` lists the nodes that the roots use, in topological order.
    """

    def __init__(self, graph, roots, levels_per_stage):
        if not isinstance(levels_per_stage, int) or levels_per_stage < 1:
            raise ValueError(f"levels_per_stage must be a positive integer, not {levels_per_stage!r}")
        g = graph
        self.graph, self.roots, self.levels_per_stage = g, list(roots), levels_per_stage
        live = [r for r in self.roots if r is not None]
        depth = max([g.level[r] for r in live], default=0)
        self.depth = depth
        self.latency = max(1, -(-depth // levels_per_stage))
        seen, stack = set(), list(live)
        while stack:  # the nodes the roots depend on
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack += _operands(g.ops[n])
        self.needed = sorted(seen)  # node ids are topological: operands are created first
        # as late as possible: a node sits in the stage of its earliest user, so that what crosses a stage
        # boundary is mostly the inputs (whose register chains every output shares) rather than partial sums
        top = self.latency * levels_per_stage
        alap = {n: top for n in self.needed}
        for n in reversed(self.needed):
            for a in _operands(g.ops[n]):
                alap[a] = min(alap[a], alap[n] - (g.level[n] - g.level[a] if g.ops[n][0] == "cast" else 1))
        self.stage = {n: 0 if g.ops[n][0] == "in" else max(0, (alap[n] - 1) // levels_per_stage)
                      for n in self.needed}
        self.delays = {n: 0 for n in self.needed}
        for n in self.needed:
            for a in _operands(g.ops[n]):
                if g.ops[a][0] != "const":
                    self.delays[a] = max(self.delays[a], self.stage[n] - self.stage[a])
        for r in live:  # each root is registered at the end of the last stage
            if g.ops[r][0] != "const":
                self.delays[r] = max(self.delays[r], self.latency - self.stage[r])

    @property
    def register_bits(self):
        """Flip-flop bits of the graph's pipeline (the roots' output registers included)."""
        return sum(d * self.graph.width[n] for n, d in self.delays.items())

    @property
    def adders(self):
        """Two-input adders of the nodes the roots use."""
        g = self.graph
        n = 0
        for node in self.needed:
            op = g.ops[node]
            if op[0] == "add":
                n += 1
            elif op[0] == "cast":
                n += g.level[node] - g.level[op[1]]
        return n


def _operands(op):
    if op[0] == "add":
        return [op[1], op[3]]
    return [op[1]] if op[0] == "cast" else []


_SHIFT_BITS, _NODE_BITS = 14, 30


def _code(v1, s1, g1, v2, s2, g2):
    """The pattern of two terms as one integer: ``a + rel * (b << d)`` at the lower term's shift (ties broken by
    node id), packed as ``a, b, d, rel``."""
    if (s2, v2) < (s1, v1):
        v1, s1, g1, v2, s2, g2 = v2, s2, g2, v1, s1, g1
    return ((((v1 << _NODE_BITS) | v2) << _SHIFT_BITS | (s2 - s1)) << 1) | (g1 == g2)


def _decode(code):
    rel = 1 if code & 1 else -1
    code >>= 1
    d = code & ((1 << _SHIFT_BITS) - 1)
    code >>= _SHIFT_BITS
    return code >> _NODE_BITS, code & ((1 << _NODE_BITS) - 1), d, rel


def _initial_codes(group):
    """Every pair's pattern code in one group of terms (vectorised: the first count is the bulk of the work)."""
    items = list(group.items())
    m = len(items)
    if m < 2:
        return np.zeros(0, dtype=np.int64)
    dtype = np.int64 if max(k[0] for k, _ in items) < 1 << 16 else object  # the code within 63 bits
    v = np.array([k[0] for k, _ in items], dtype=dtype)
    sh = np.array([k[1] for k, _ in items], dtype=dtype)
    g = np.array([sg for _, sg in items], dtype=np.int64)
    x, y = np.triu_indices(m, 1)
    swap = (sh[y] < sh[x]) | ((sh[y] == sh[x]) & (v[y] < v[x]))
    lo, hi = np.where(swap, y, x), np.where(swap, x, y)
    code = (v[lo] << _NODE_BITS) | v[hi]
    code = (code << _SHIFT_BITS) | (sh[hi] - sh[lo])
    return (code << 1) | (g[lo] == g[hi])


class _Sum:
    """The terms of one output, grouped by column block (pairs are formed inside a block only): ``terms[block]``
    maps ``(node, shift)`` to the sign; ``shifts[node]`` is the set of shifts at which ``node`` occurs."""

    __slots__ = ("terms", "shifts")

    def __init__(self):
        self.terms, self.shifts = {}, {}


def share(graph, sums, cap=None):
    """Greedy common subexpression elimination over ``sums`` (lists of terms ``(node, shift, sign)``, nodes of
    ``graph``): while some pair of terms (up to a common shift and sign) occurs in two places or more, the most
    frequent one (then the shallowest, then the narrowest) becomes an adder node of ``graph`` and replaces its
    occurrences. Pairs are formed within a node's ``block`` only. Returns the new term lists.

    Pair counts are upper bounds: a replaced term's pairs are not subtracted (that would cost a pass over its
    whole sum); a pattern is recounted exactly when it comes to the top of the heap, and goes back in with its
    true count when that is lower."""
    if len(graph.ops) >= 1 << _NODE_BITS:
        raise ValueError("too many nodes for the pattern code")
    state = []
    for terms in sums:
        s = _Sum()
        for v, sh, sg in terms:
            _insert(graph, s, (v, sh, sg), None)
        state.append(s)
    if any(sh >= 1 << _SHIFT_BITS for s in state for group in s.terms.values() for (_, sh) in group):
        raise ValueError("shift too large for the pattern code")
    codes, owners = [], []
    for si, s in enumerate(state):
        for group in s.terms.values():
            c = _initial_codes(group)
            codes.append(c)
            owners.append(np.full(len(c), si, dtype=np.int64))
    count, where = {}, {}  # where[pattern]: the sums where it may occur (a superset)
    if codes:
        codes, owners = np.concatenate(codes), np.concatenate(owners)
        if codes.dtype == object:
            for k, si in zip(codes, owners):
                count[int(k)] = count.get(int(k), 0) + 1
                where.setdefault(int(k), set()).add(int(si))
        else:
            keys, counts = np.unique(codes, return_counts=True)
            count = dict(zip((int(k) for k in keys), (int(c) for c in counts)))
            order = np.argsort(codes, kind="stable")
            ends = np.cumsum(counts)
            for k, c, end in zip(keys.tolist(), counts.tolist(), ends.tolist()):
                if c >= 2:  # most patterns occur once and never need their sums
                    where[k] = set(owners[order[end - c:end]].tolist())
    heap = [_entry(graph, k, c) for k, c in count.items() if c >= 2]
    heapq.heapify(heap)
    touched = set()

    def grower(si):
        def grew(code):
            count[code] = count.get(code, 0) + 1
            where.setdefault(code, set()).add(si)
            touched.add(code)
        return grew

    while heap:
        _, was, code = heapq.heappop(heap)
        if count.get(code, 0) != was:
            continue  # stale: a newer entry holds the current count
        a, b, d, rel = _decode(code)
        block = graph.block[a]
        matches = []
        for si in sorted(where.get(code, ())):
            s = state[si]
            group = s.terms.get(block)
            if group is None or a not in s.shifts:
                continue
            used = set()
            for sh in sorted(s.shifts[a]):
                ga, gb = group.get((a, sh)), group.get((b, sh + d))
                if ga is None or gb is None or gb != ga * rel or (a, sh) in used or (b, sh + d) in used:
                    continue
                used.update(((a, sh), (b, sh + d)))
                matches.append((si, sh, ga, gb))
        if len(matches) < was:  # fewer than counted: back in with the true count
            count[code] = len(matches)
            if len(matches) >= 2:
                heapq.heappush(heap, _entry(graph, code, len(matches)))
            continue
        node = graph.add(a, 0, b, d, rel < 0, cap)
        count[code] = 0
        for si, sh, ga, _ in matches:
            s = state[si]
            _remove(graph, s, (a, sh))
            _remove(graph, s, (b, sh + d))
            _insert(graph, s, (node, sh, ga), grower(si))
        where.pop(code, None)
        for k in touched:  # one heap entry per grown pattern and step
            if count[k] >= 2:
                heapq.heappush(heap, _entry(graph, k, count[k]))
        touched.clear()
    return [[(v, sh, sg) for group in s.terms.values() for (v, sh), sg in group.items()] for s in state]


def _entry(graph, k, c):
    """Heap entry of pattern ``k`` seen ``c`` times: the most frequent first, then the shallowest (adder depth),
    then the narrowest (a cheaper adder); ties broken by the pattern itself, so the graph is deterministic."""
    a, b, d, _ = _decode(k)
    return ((-c, max(graph.level[a], graph.level[b]), max(graph.width[a], graph.width[b] + d)), c, k)


def _remove(graph, s, key):
    v, sh = key
    del s.terms[graph.block[v]][key]
    shifts = s.shifts[v]
    shifts.discard(sh)
    if not shifts:
        del s.shifts[v]


def _insert(graph, s, term, grew):
    """Add a term to a sum, merging it with an equal ``(node, shift)`` (``x + x = x << 1``, ``x - x = 0``);
    ``grew(code)`` for each new pair (None: not counted here)."""
    v, sh, sg = term
    group = s.terms.setdefault(graph.block[v], {})
    while (v, sh) in group:
        other = group[(v, sh)]
        _remove(graph, s, (v, sh))
        if other != sg:
            return  # cancelled
        sh += 1
    if grew is not None:
        for (v2, sh2), sg2 in group.items():
            grew(_code(v, sh, sg, v2, sh2, sg2))
    group[(v, sh)] = sg
    s.shifts.setdefault(v, set()).add(sh)


def reduce_terms(graph, terms, cap=None):
    """One term ``(node, shift, sign)`` equal to the sum of ``terms``, built by joining the two shallowest terms
    first (Huffman on adder level: the least depth for the adders spent); ``None`` for no term."""
    if not terms:
        return None
    heap = [(graph.level[v], sh, v, sg) for v, sh, sg in terms]
    heapq.heapify(heap)
    while len(heap) > 1:
        _, s1, v1, g1 = heapq.heappop(heap)
        _, s2, v2, g2 = heapq.heappop(heap)
        s = min(s1, s2)
        if g1 > 0:
            node, sign = graph.add(v1, s1 - s, v2, s2 - s, g2 < 0, cap), 1
        elif g2 > 0:
            node, sign = graph.add(v2, s2 - s, v1, s1 - s, True, cap), 1
        else:
            node, sign = graph.add(v1, s1 - s, v2, s2 - s, False, cap), -1
        heapq.heappush(heap, (graph.level[node], s, node, sign))
    _, s, v, g = heap[0]
    return (v, s, g)
