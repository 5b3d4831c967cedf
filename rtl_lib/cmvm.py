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
    """Bits of a two's complement value holding every integer in ``[lo, hi]``."""
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

    @property
    def adders(self):
        """Two-input adders (a cast that negates or rounds counts one per level it adds)."""
        n = 0
        for node, op in enumerate(self.ops):
            if op[0] == "add":
                n += 1
            elif op[0] == "cast":
                n += self.level[node] - self.level[op[1]]
        return n

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


def _key(t1, t2):
    """The pattern of two terms ``(node, shift, sign)``: ``(a, b, d, rel)`` meaning ``a + rel * (b << d)`` at the
    lower term's shift (ties broken by node id)."""
    (v1, s1, g1), (v2, s2, g2) = t1, t2
    if (s2, v2) < (s1, v1):
        v1, s1, g1, v2, s2, g2 = v2, s2, g2, v1, s1, g1
    return (v1, v2, s2 - s1, g1 * g2)


class _Sum:
    """The terms of one output, grouped by column block (pairs are formed inside a block only): ``terms[block]``
    maps ``(node, shift)`` to the sign."""

    __slots__ = ("terms",)

    def __init__(self):
        self.terms = {}


def share(graph, sums, cap=None):
    """Greedy common subexpression elimination over ``sums`` (lists of terms ``(node, shift, sign)``, nodes of
    ``graph``): while some pair of terms (up to a common shift and sign) occurs in two places or more, the most
    frequent one (then the shallowest, then the narrowest) becomes an adder node of ``graph`` and replaces its
    occurrences. Pairs are formed within a node's ``block`` only. Returns the new term lists."""
    state = []
    count = {}     # pattern -> occurrences over all sums
    where = {}     # pattern -> {sum index: occurrences there}

    def bump(si, t1, t2, delta):
        k = _key(t1, t2)
        c = count.get(k, 0) + delta
        count[k] = c
        w = where.setdefault(k, {})
        w[si] = w.get(si, 0) + delta
        if w[si] == 0:
            del w[si]
        return k, c

    for si, terms in enumerate(sums):
        s = _Sum()
        for v, sh, sg in terms:
            _insert(graph, s, si, (v, sh, sg), bump, count_pairs=False)
        state.append(s)
    heap = []
    for si, s in enumerate(state):  # the initial pair counts
        for group in s.terms.values():
            items = [(v, sh, sg) for (v, sh), sg in group.items()]
            for x in range(len(items)):
                for y in range(x + 1, len(items)):
                    bump(si, items[x], items[y], 1)
    for k, c in count.items():
        if c >= 2:
            heapq.heappush(heap, _entry(graph, k, c))
    while heap:
        _, was, k = heapq.heappop(heap)
        c = count.get(k, 0)
        if c != was:
            if 2 <= c < was:  # fewer now (an entry was pushed whenever the count grew)
                heapq.heappush(heap, _entry(graph, k, c))
            continue
        a, b, d, rel = k
        node = graph.add(a, 0, b, d, rel < 0, cap)
        touched = {}
        for si in sorted(where.get(k, {})):
            s = state[si]
            group = s.terms.get(graph.block[a])
            if group is None:
                continue
            firsts = sorted(sh for (v, sh) in list(group) if v == a)
            for sh in firsts:
                ga = group.get((a, sh))
                gb = group.get((b, sh + d))
                if ga is None or gb is None or gb != ga * rel or (a == b and d == 0):
                    continue
                _remove(s, si, (a, sh, ga), bump, graph)
                _remove(s, si, (b, sh + d, gb), bump, graph)
                for kk in _insert(graph, s, si, (node, sh, ga), bump):
                    touched[kk] = True
        for kk in touched:
            c2 = count.get(kk, 0)
            if c2 >= 2:
                heapq.heappush(heap, _entry(graph, kk, c2))
    return [[(v, sh, sg) for group in s.terms.values() for (v, sh), sg in group.items()] for s in state]


def _entry(graph, k, c):
    """Heap entry of pattern ``k`` seen ``c`` times: the most frequent first, then the shallowest (adder depth),
    then the narrowest (a cheaper adder); ties broken by the pattern itself, so the graph is deterministic."""
    a, b, d, _ = k
    return ((-c, max(graph.level[a], graph.level[b]), max(graph.width[a], graph.width[b] + d)), c, k)


def _remove(s, si, term, bump, graph):
    v, sh, sg = term
    group = s.terms[graph.block[v]]
    del group[(v, sh)]
    for (v2, sh2), sg2 in group.items():
        bump(si, term, (v2, sh2, sg2), -1)


def _insert(graph, s, si, term, bump, count_pairs=True):
    """Add a term to a sum, merging it with an equal ``(node, shift)`` (``x + x = x << 1``, ``x - x = 0``);
    returns the patterns whose counts grew."""
    v, sh, sg = term
    group = s.terms.setdefault(graph.block[v], {})
    while (v, sh) in group:
        other = group[(v, sh)]
        if count_pairs:
            _remove(s, si, (v, sh, other), bump, graph)
        else:
            del group[(v, sh)]
        if other != sg:
            return []  # cancelled
        sh += 1
    grown = []
    if count_pairs:
        for (v2, sh2), sg2 in group.items():
            k, _ = bump(si, (v, sh, sg), (v2, sh2, sg2), 1)
            grown.append(k)
    group[(v, sh)] = sg
    return grown


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
