"""WindowGenerator (line buffers in block RAM) in Amaranth's simulator: every window of several images, under
random input gaps and output stalls, equals the window geometry of the parallel architecture (nn2rtl.ops.windows);
without stalls an image takes exactly one step per padded position."""

import numpy as np
import pytest
from helpers.streams import drive_stream

from nn2rtl.ops.windows import out_spatial, window_index
from rtl_lib.window import WindowGenerator, window_schedule, window_steps

CASES = [  # (height, width, channels, kernel, strides, pads)
    (5, 6, 2, (3, 3), (1, 1), (0, 0, 0, 0)),
    (5, 6, 2, (3, 3), (1, 1), (1, 1, 1, 1)),
    (7, 5, 1, (3, 2), (2, 1), (1, 0, 0, 1)),
    (6, 6, 3, (2, 2), (2, 2), (0, 0, 0, 0)),
    (4, 9, 1, (1, 3), (1, 2), (0, 1, 0, 1)),
    (3, 3, 2, (3, 3), (1, 1), (0, 0, 0, 0)),
    (4, 4, 1, (1, 1), (1, 1), (0, 0, 0, 0)),
    (6, 1, 2, (3, 1), (1, 1), (0, 0, 0, 0)),   # one pixel wide: a line buffer reads the position it writes
]
BITS = 5


def expected(images, h, w, c, kernel, strides, pads):
    out = out_spatial((h, w), kernel, strides, pads, (1, 1))
    pix, _ = window_index((h, w), kernel, strides, pads, (1, 1), out)
    windows = []
    for img in images:  # (h * w, c) raw pixels
        padded = np.concatenate([img, np.zeros((1, c), dtype=np.int64)])
        windows.append(padded[pix])  # (outputs, kh * kw, c)
    return np.concatenate(windows)


def run(dut, pixels, n_windows, c, p_in, p_out, seed):
    """Drive ``pixels`` (packed words) with random gaps, take windows with random stalls; the unpacked windows and
    the cycle of each."""
    kh, kw = dut.kernel
    cycles = []
    words = drive_stream(dut, dut.i, dut.o, [int(p) for p in pixels], n_windows, np.random.default_rng(seed),
                         p_in=p_in, p_out=p_out, cycles=cycles)
    got = [[[(word >> ((j * c + ch) * BITS)) & ((1 << BITS) - 1) for ch in range(c)] for j in range(kh * kw)]
           for word in words]
    return np.array(got), cycles


def _images(h, w, c, n, seed):
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 1 << BITS, size=(h * w, c)) for _ in range(n)]
    words = [sum(int(v) << (ch * BITS) for ch, v in enumerate(p)) for img in images for p in img]
    return images, words


@pytest.mark.parametrize("p_in, p_out", [(1.0, 1.0), (0.6, 0.5), (0.3, 0.9)])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_windows_equal_the_parallel_geometry_under_stalls(case, p_in, p_out):
    h, w, c, kernel, strides, pads = CASES[case]
    dut = WindowGenerator(h, w, c * BITS, kernel, strides, pads)
    images, words = _images(h, w, c, 3, case)
    want = expected(images, h, w, c, kernel, strides, pads)
    got, _ = run(dut, words, len(want), c, p_in, p_out, seed=case)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert dut.memory_bits == (kernel[0] - 1) * (w + pads[1] + pads[3]) * c * BITS


@pytest.mark.parametrize("case", range(len(CASES)))
def test_an_image_takes_one_step_per_padded_position(case):
    h, w, c, kernel, strides, pads = CASES[case]
    dut = WindowGenerator(h, w, c * BITS, kernel, strides, pads)
    images, words = _images(h, w, c, 3, case)
    per_image = dut.out_h * dut.out_w
    _, cycles = run(dut, words, 3 * per_image, c, 1.0, 1.0, seed=0)
    firsts = cycles[::per_image]
    assert firsts[1] - firsts[0] == firsts[2] - firsts[1] == window_steps(h, w, pads)


def test_a_window_larger_than_the_padded_image_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        WindowGenerator(2, 2, 4, (3, 3))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_schedule_states_when_each_window_leaves(case):
    """window_schedule (what FIFO depths are computed from) equals the cycles measured without stalls: a window
    leaves one cycle after the step that completes it, and every step with an input takes one pixel."""
    h, w, c, kernel, strides, pads = CASES[case]
    dut = WindowGenerator(h, w, c * BITS, kernel, strides, pads)
    images, words = _images(h, w, c, 2, case)
    takes, emits = window_schedule(h, w, kernel, strides, pads)
    assert takes.sum() == h * w and emits.sum() == dut.out_h * dut.out_w
    _, cycles = run(dut, words, 2 * dut.out_h * dut.out_w, c, 1.0, 1.0, seed=0)
    steps = np.flatnonzero(emits)
    want = list(steps + 1) + list(steps + 1 + len(emits))
    assert cycles == want


@pytest.mark.parametrize("h, w, sy, sx", [(3, 4, 2, 2), (2, 5, 1, 3), (3, 2, 3, 1), (1, 6, 1, 2)])
def test_upsampler_repeats_pixels_and_rows_under_stalls(h, w, sy, sx):
    from rtl_lib.window import Upsampler
    dut = Upsampler(h, w, 7, sy, sx)
    assert dut.memory_bits == (w * 7 if sy > 1 else 0)
    rng = np.random.default_rng(h * 100 + w * 10 + sy + sx)
    images = rng.integers(0, 128, size=(3, h, w))
    want = [int(v) for img in images for v in np.repeat(np.repeat(img, sy, axis=0), sx, axis=1).reshape(-1)]
    got = drive_stream(dut, dut.i, dut.o, [int(v) for v in images.reshape(-1)], len(want), rng, p_out=0.5)
    assert got == want


@pytest.mark.parametrize("h, w, pads", [(3, 4, (1, 1, 1, 1)), (1, 5, (0, 1, 0, 2)), (2, 2, (0, 0, 2, 0))])
def test_zero_pad_inserts_zero_pixels_under_stalls(h, w, pads):
    from rtl_lib.window import ZeroPad
    dut = ZeroPad(h, w, 6, pads)
    rng = np.random.default_rng(h + w + sum(pads))
    images = rng.integers(1, 64, size=(3, h, w))
    top, left, bottom, right = pads
    want = [int(v) for img in images for v in np.pad(img, ((top, bottom), (left, right))).reshape(-1)]
    got = drive_stream(dut, dut.i, dut.o, [int(v) for v in images.reshape(-1)], len(want), rng, p_out=0.5)
    assert got == want
