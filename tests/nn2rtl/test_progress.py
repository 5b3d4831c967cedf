"""Progress lines: shown on a terminal (or when forced), silent in pipes and logs."""

import io
import time

from nn2rtl.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_silent_when_not_a_terminal(monkeypatch):
    monkeypatch.delenv("NN2RTL_PROGRESS", raising=False)
    out = io.StringIO()
    with Progress("building", stream=out, interval=0.01) as p:
        p.update("step 1")
        time.sleep(0.05)
    assert out.getvalue() == ""


def test_a_terminal_sees_what_runs_how_far_and_for_how_long(monkeypatch):
    monkeypatch.delenv("NN2RTL_PROGRESS", raising=False)
    out = Tty()
    with Progress("building 'top'", stream=out, interval=0.01) as p:
        p.update("compiling 3 objects")
        time.sleep(0.1)
    text = out.getvalue()
    assert "\rbuilding 'top': compiling 3 objects (0 s)" in text.replace("\033[K", "")
    assert text.endswith("\r\033[K")  # the line is cleared when the step ends


def test_forced_on_and_off(monkeypatch):
    monkeypatch.setenv("NN2RTL_PROGRESS", "1")
    out = io.StringIO()
    with Progress("x", status=lambda: "polled", stream=out, interval=0.01):
        time.sleep(0.05)
    assert "x: polled" in out.getvalue()
    monkeypatch.setenv("NN2RTL_PROGRESS", "0")
    out = Tty()
    with Progress("x", stream=out, interval=0.01):
        time.sleep(0.05)
    assert out.getvalue() == ""
