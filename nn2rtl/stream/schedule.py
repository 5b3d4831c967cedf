"""The schedule of a stream design: a cycle-by-cycle model of its stage network's handshakes.

Each stage is modelled by the same rules its :mod:`rtl_lib` block implements (which beat it can take or offer in a
cycle, from its state, and how the state moves), without data: ``valid`` signals are settled in stage order,
``ready`` signals in reverse order, then every stream with both high moves one beat. The model is the schedule the
design states:

* **FIFO depths**: run with unbounded FIFOs, the input offered every cycle and the output always ready, the largest
  occupancy each FIFO reaches (a push counted before a pop in the same cycle, as a full FIFO refuses it) is the depth
  at which the input is never held up by a FIFO; the design is built with exactly those depths;
* **latency and II**: the same run with those depths gives, per image, the cycles from its first input beat to its
  first and to its last output beat, and the cycles between the first beats of consecutive images (II). The
  Verilator harness measures the same quantities on the Verilog and must find the same numbers.

The model also runs with random gaps and stalls (:func:`simulate_plan`), to check that no FIFO depth deadlocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Timing", "simulate_plan", "size_fifos", "stream_timing"]


@dataclass
class Timing:
    in_at: list          #: cycle of every input beat
    out_at: list         #: cycle of every output beat
    peaks: dict          #: FIFO stage name -> largest occupancy
    cycles: int
    deadlock: bool


class _Model:
    def __init__(self, plan, depths):
        self.plan = plan
        self.stages = plan.stages
        self.depths = depths
        self.state = {}
        for s in self.stages:
            k = s.kind
            if k == "window":
                a = s.args
                h, w = a["height"], a["width"]
                top, left, bottom, right = a["pads"]
                kh, kw = a["kernel"]
                hp, wp = h + top + bottom, w + left + right
                out_h, out_w = (hp - kh) // a["strides"][0] + 1, (wp - kw) // a["strides"][1] + 1
                ey, ex = np.arange(hp) - (kh - 1), np.arange(wp) - (kw - 1)
                emit_y = (ey >= 0) & (ey % a["strides"][0] == 0) & (ey // a["strides"][0] < out_h)
                emit_x = (ex >= 0) & (ex % a["strides"][1] == 0) & (ex // a["strides"][1] < out_w)
                in_y = (np.arange(hp) >= top) & (np.arange(hp) < top + h)
                in_x = (np.arange(wp) >= left) & (np.arange(wp) < left + w)
                self.state[s.name] = dict(py=0, px=0, ov=False, hp=hp, wp=wp, emit_y=emit_y.tolist(),
                                          emit_x=emit_x.tolist(), in_y=in_y.tolist(), in_x=in_x.tolist())
            elif k == "pipe":
                self.state[s.name] = dict(sr=[False] * s.latency, wait=0)
            elif k == "collect":
                self.state[s.name] = dict(count=0, ov=False, n=s.args["n"])
            elif k == "upsample":
                self.state[s.name] = dict(x=0, k=0, rep=0)
            elif k == "pad":
                a = s.args
                top, left, bottom, right = a["pads"]
                hp, wp = a["height"] + top + bottom, a["width"] + left + right
                self.state[s.name] = dict(py=0, px=0, hp=hp, wp=wp,
                                          in_y=[top <= y < top + a["height"] for y in range(hp)],
                                          in_x=[left <= x < left + a["width"] for x in range(wp)])
            elif k == "serialize":
                self.state[s.name] = dict(count=0, full=False, n=s.args["n"])
            elif k == "fork":
                self.state[s.name] = dict(da=False, db=False)
            elif k == "fifo":
                self.state[s.name] = dict(level=0, peak=0, depth=depths.get(s.name))
            elif k == "source":
                self.state[s.name] = dict(k=0)

    def run(self, images, offer=None, accept=None, limit=None):
        """``offer(cycle)``/``accept(cycle)``: whether the source offers / the sink takes (default: always)."""
        stages = self.stages
        src = next(s for s in stages if s.kind == "source")
        snk = next(s for s in stages if s.kind == "sink")
        total_in = images * self.plan.streams[src.outputs[0]].beats
        total_out = images * self.plan.streams[snk.inputs[0]].beats
        valid, ready = {}, {}
        in_at, out_at = [], []
        cycle, idle = 0, 0
        limit = limit or (total_in + total_out + 1000) * 50
        st = self.state
        while len(out_at) < total_out and cycle < limit:
            # valid, forward
            for s in stages:
                k, z = s.kind, st.get(s.name)
                if k == "source":
                    valid[s.outputs[0]] = z["k"] < total_in and (offer is None or offer(cycle))
                elif k == "window":
                    valid[s.outputs[0]] = z["ov"]
                elif k == "pipe":
                    valid[s.outputs[0]] = valid[s.inputs[0]] if s.latency == 0 else z["sr"][-1]
                elif k == "collect":
                    valid[s.outputs[0]] = z["ov"]
                elif k == "upsample":
                    valid[s.outputs[0]] = valid[s.inputs[0]] if z["rep"] == 0 else True
                elif k == "pad":
                    z["inside"] = z["in_y"][z["py"]] and z["in_x"][z["px"]]
                    valid[s.outputs[0]] = valid[s.inputs[0]] if z["inside"] else True
                elif k == "serialize":
                    valid[s.outputs[0]] = z["full"]
                elif k == "fork":
                    v = valid[s.inputs[0]]
                    valid[s.outputs[0]] = v and not z["da"]
                    valid[s.outputs[1]] = v and not z["db"]
                elif k == "join":
                    valid[s.outputs[0]] = valid[s.inputs[0]] and valid[s.inputs[1]]
                elif k == "fifo":
                    valid[s.outputs[0]] = z["level"] > 0
            # ready, backward
            for s in reversed(stages):
                k, z = s.kind, st.get(s.name)
                if k == "sink":
                    ready[s.inputs[0]] = accept is None or accept(cycle)
                elif k == "window":
                    free = not z["ov"] or ready[s.outputs[0]]
                    z["free"] = free
                    z["inside"] = z["in_y"][z["py"]] and z["in_x"][z["px"]]
                    ready[s.inputs[0]] = free and z["inside"]
                elif k == "pipe":
                    if s.latency == 0:
                        ready[s.inputs[0]] = ready[s.outputs[0]]
                    else:
                        en = not (z["sr"][-1] and not ready[s.outputs[0]])
                        z["en"] = en
                        ready[s.inputs[0]] = en and z["wait"] == 0
                elif k == "upsample":
                    ready[s.inputs[0]] = z["rep"] == 0 and ready[s.outputs[0]] and z["k"] == s.args["sx"] - 1
                elif k == "pad":
                    ready[s.inputs[0]] = z["inside"] and ready[s.outputs[0]]
                elif k == "collect":
                    last = z["count"] == z["n"] - 1
                    ready[s.inputs[0]] = (not last) or (not z["ov"]) or ready[s.outputs[0]]
                elif k == "serialize":
                    ready[s.inputs[0]] = (not z["full"]) or (ready[s.outputs[0]] and z["count"] == z["n"] - 1)
                elif k == "fork":
                    ready[s.inputs[0]] = (z["da"] or ready[s.outputs[0]]) and (z["db"] or ready[s.outputs[1]])
                elif k == "join":
                    r = valid[s.inputs[0]] and valid[s.inputs[1]] and ready[s.outputs[0]]
                    ready[s.inputs[0]] = ready[s.inputs[1]] = r
                elif k == "fifo":
                    ready[s.inputs[0]] = z["depth"] is None or z["level"] < z["depth"]
            moved = False
            # state
            for s in stages:
                k, z = s.kind, st.get(s.name)
                if k == "source":
                    o = s.outputs[0]
                    if valid[o] and ready[o]:
                        z["k"] += 1
                        in_at.append(cycle)
                        moved = True
                elif k == "sink":
                    i = s.inputs[0]
                    if valid[i] and ready[i]:
                        out_at.append(cycle)
                        moved = True
                elif k == "window":
                    i, o = s.inputs[0], s.outputs[0]
                    step = z["free"] and (not z["inside"] or valid[i])
                    if step:
                        emit = z["emit_y"][z["py"]] and z["emit_x"][z["px"]]
                        if z["px"] == z["wp"] - 1:
                            z["px"] = 0
                            z["py"] = 0 if z["py"] == z["hp"] - 1 else z["py"] + 1
                        else:
                            z["px"] += 1
                        moved = True
                    else:
                        emit = False
                    if emit:
                        z["ov"] = True
                    elif ready[o]:
                        z["ov"] = False
                elif k == "pipe":
                    if s.latency and z["en"]:
                        i = s.inputs[0]
                        can = z["wait"] == 0
                        take = valid[i] and can
                        z["sr"] = [take] + z["sr"][:-1]
                        if take:
                            z["wait"] = s.ii - 1
                            moved = True
                        elif not can:
                            z["wait"] -= 1
                elif k == "collect":
                    i, o = s.inputs[0], s.outputs[0]
                    if valid[o] and ready[o]:
                        z["ov"] = False
                    if valid[i] and ready[i]:
                        if z["count"] == z["n"] - 1:
                            z["count"], z["ov"] = 0, True
                        else:
                            z["count"] += 1
                        moved = True
                elif k == "upsample":
                    o = s.outputs[0]
                    if valid[o] and ready[o]:
                        moved = True
                        if z["k"] == s.args["sx"] - 1:
                            z["k"] = 0
                            if z["x"] == s.args["width"] - 1:
                                z["x"] = 0
                                z["rep"] = 0 if z["rep"] == s.args["sy"] - 1 else z["rep"] + 1
                            else:
                                z["x"] += 1
                        else:
                            z["k"] += 1
                elif k == "pad":
                    o = s.outputs[0]
                    if valid[o] and ready[o]:
                        moved = True
                        if z["px"] == z["wp"] - 1:
                            z["px"] = 0
                            z["py"] = 0 if z["py"] == z["hp"] - 1 else z["py"] + 1
                        else:
                            z["px"] += 1
                elif k == "serialize":
                    i, o = s.inputs[0], s.outputs[0]
                    if valid[o] and ready[o]:
                        if z["count"] == z["n"] - 1:
                            z["count"], z["full"] = 0, False
                        else:
                            z["count"] += 1
                        moved = True
                    if valid[i] and ready[i]:
                        z["full"] = True
                elif k == "fork":
                    i, a, b = s.inputs[0], s.outputs[0], s.outputs[1]
                    if valid[i] and ready[i]:
                        z["da"] = z["db"] = False
                    else:
                        z["da"] = z["da"] or (valid[a] and ready[a])
                        z["db"] = z["db"] or (valid[b] and ready[b])
                elif k == "fifo":
                    i, o = s.inputs[0], s.outputs[0]
                    push = valid[i] and ready[i]
                    pop = valid[o] and ready[o]
                    z["peak"] = max(z["peak"], z["level"] + push)
                    z["level"] += int(push) - int(pop)
            idle = 0 if moved else idle + 1
            cycle += 1
            if idle > 10000 and len(out_at) < total_out:
                break  # nothing moved for a long time: a deadlock (or a source that never offers)
        peaks = {s.name: st[s.name]["peak"] for s in stages if s.kind == "fifo"}
        return Timing(in_at, out_at, peaks, cycle, len(out_at) < total_out)


def simulate_plan(plan, images, depths=None, offer=None, accept=None, limit=None):
    """Run the handshake model of ``plan`` for ``images`` images (FIFO depths ``depths``, unbounded if absent)."""
    return _Model(plan, depths or {}).run(images, offer, accept, limit)


def size_fifos(plan, images=3):
    """Every FIFO's depth: its largest occupancy with the input offered every cycle and the output always ready
    (at least 1)."""
    t = simulate_plan(plan, images)
    if t.deadlock:
        raise AssertionError("the stream network stops even with unbounded FIFOs")
    return {name: max(1, peak) for name, peak in t.peaks.items()}


def stream_timing(plan, depths, images=3):
    """``dict``: latency to the first and last output beat of an image, II per image, cycles per image, from the
    model at ``depths`` with the input offered every cycle and the output always ready."""
    t = simulate_plan(plan, images, depths)
    if t.deadlock:
        raise AssertionError("the stream network deadlocks at the chosen FIFO depths")
    bi = plan.streams[next(s for s in plan.stages if s.kind == "source").outputs[0]].beats
    bo = plan.streams[next(s for s in plan.stages if s.kind == "sink").inputs[0]].beats
    firsts = [t.in_at[k * bi] for k in range(images)]
    first_out = [t.out_at[k * bo] for k in range(images)]
    last_out = [t.out_at[k * bo + bo - 1] for k in range(images)]
    iis = sorted({b - a for a, b in zip(firsts, firsts[1:])})
    return {"latency_first": [o - i for o, i in zip(first_out, firsts)],
            "latency_last": [o - i for o, i in zip(last_out, firsts)],
            "ii": iis, "in_beats": bi, "out_beats": bo}
