"""``nn2rtl board-run`` over a real serial device (a pseudo-terminal), the board played by a thread that parses
frames byte by byte and answers from the golden model. The frame code itself is checked against the RTL of the
board top in ``tests/sim/test_board.py``, which sends its frames with the same functions."""

import os
import threading
import tty

import numpy as np
import pytest
from helpers import models

import nn2rtl
from boards.host import decode_words, encode_frame
from nn2rtl.cli import main
from rtl_lib.uart import NAK, SYNC_IN, SYNC_OUT, word_bytes


class FakeBoard(threading.Thread):
    """Reads frames from the pty master; answers NAK for a bad checksum; ``nak_first``: NAK the first frame once
    (line noise); ``flip``: corrupt output 0 of every answer; ``silent``: never answer."""

    def __init__(self, design, fd, nak_first=False, flip=False, silent=False):
        super().__init__(daemon=True)
        self.design, self.fd, self.nak_first, self.flip, self.silent = design, fd, nak_first, flip, silent
        self.frames = 0

    def _byte(self):
        return os.read(self.fd, 1)[0]

    def run(self):
        tin, tout = self.design.input, self.design.output
        nb = word_bytes(tin.type.width)
        try:
            while True:
                if self._byte() != SYNC_IN:
                    continue
                body = bytes(self._byte() for _ in range(tin.size * nb + 1))
                self.frames += 1
                if self.silent:
                    continue
                if sum(body[:-1]) % 256 != body[-1] or (self.nak_first and self.frames == 1):
                    os.write(self.fd, bytes([NAK]))
                    continue
                raw = decode_words(body, tin.size, tin.type.width, True)
                out = self.design.predict_raw(np.array([raw]))[0]
                if self.flip:
                    out[0] ^= 1
                answer = encode_frame(out, tout.type.width)
                os.write(self.fd, bytes([SYNC_OUT]) + answer[1:])
        except OSError:
            return


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A converted design with a board build on record (the Xilinx plan: no tools run)."""
    d = tmp_path_factory.mktemp("run")
    path = models.save(models.torch_mlp([5, 7, 3], seed=9), d / "m.onnx")
    out = d / "out"
    assert main(["convert", str(path), "-o", str(out), "--precision", "fixed<10,4>", "--reuse", "8"]) == 0
    assert main(["build", str(out), "--board", "arty-a7-35"]) == 0
    x = np.random.default_rng(0).normal(0, 2, size=(40, 5))
    np.save(d / "x.npy", x)
    return out, d / "x.npy"


def _board_run(built, *extra, **behaviour):
    """Run ``nn2rtl board-run`` against a :class:`FakeBoard`; (exit status, the board)."""
    out, x = built
    master, slave = os.openpty()
    tty.setraw(master)
    board = FakeBoard(nn2rtl.Design.load(out), master, **behaviour)
    board.start()
    try:
        return main(["board-run", str(out), "--port", os.ttyname(slave), "--input", str(x), *extra]), board
    finally:
        os.close(slave)


@pytest.mark.parametrize("nak_first", [False, True])
def test_board_run_checks_every_answer_against_the_golden_model(built, tmp_path, capsys, nak_first):
    y = tmp_path / "y.npy"
    rc, board = _board_run(built, "--output", str(y), nak_first=nak_first)
    assert rc == 0
    text = capsys.readouterr().out
    assert "bit-exact: 40 x 3 outputs equal the golden model" in text
    assert f"{int(nak_first)} frames resent after NAK" in text and "inferences/s" in text
    assert board.frames == 40 + nak_first
    out, x = built
    np.testing.assert_array_equal(np.load(y), nn2rtl.Design.load(out).predict(np.load(x)))


def test_board_run_reports_a_wrong_answer(built, capsys):
    assert _board_run(built, flip=True)[0] == 1
    text = capsys.readouterr().out
    assert "FAILED: 40 outputs differ from the golden model" in text and "vector 0 output 0: expected" in text


def test_board_run_without_an_answer_says_what_to_check(built, capsys):
    assert _board_run(built, "--timeout", "0.2", silent=True)[0] == 2
    err = capsys.readouterr().err
    assert "vector 0: no answer within 0.2 s" in err and "Is the bitstream for 'm' loaded on the arty-a7-35" in err


def test_board_run_input_and_build_errors(built, tmp_path, capsys):
    out, x = built
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 4)))
    assert main(["board-run", str(out), "--port", "/dev/null", "--input", str(bad)]) == 2
    assert "--input must have shape (N, 5), not (3, 4)" in capsys.readouterr().err
    assert main(["board-run", str(out), "--board", "icebreaker", "--port", "x", "--input", str(x)]) == 2
    assert "no build for board 'icebreaker'" in capsys.readouterr().err
    assert main(["board-run", str(out), "--port", "/dev/does-not-exist", "--input", str(x)]) == 2
    assert "cannot open /dev/does-not-exist" in capsys.readouterr().err
