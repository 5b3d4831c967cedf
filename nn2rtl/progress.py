"""Progress lines for long steps (Verilator builds, bulk simulation, synthesis, big conversions).

On a terminal, a step shows one self-rewriting line on stderr: what is running, how far it is (when the step
can tell) and the seconds elapsed, refreshed every half second. Anywhere else (a pipe, a CI log, a test) it
prints nothing, so logs stay clean. ``NN2RTL_PROGRESS=1`` forces it on, ``=0`` off.
"""

from __future__ import annotations

import os
import sys
import threading
import time

__all__ = ["Progress", "enabled"]


def enabled(stream=None):
    forced = os.environ.get("NN2RTL_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()


class Progress:
    """Context manager: ``with Progress("building jet_mlp") as p: p.update("compiling 3/12 files")``.

    ``update`` may be called from any thread; a ``status`` callable, if given, is polled on every refresh
    instead (for steps whose progress is read off the file system, such as counting compiled objects).
    """

    def __init__(self, what, status=None, stream=None, interval=0.5):
        self.what = what
        self.status = status
        self.stream = stream or sys.stderr
        self.interval = interval
        self.detail = ""
        self.on = enabled(self.stream)
        self._stop = threading.Event()
        self._thread = None
        self._t0 = None

    def update(self, detail):
        self.detail = detail

    def _line(self):
        detail = self.detail
        if self.status is not None:
            try:
                detail = self.status() or detail
            except OSError:
                pass
        secs = time.monotonic() - self._t0
        return f"{self.what}{': ' + detail if detail else ''} ({secs:.0f} s)"

    def _run(self):
        while not self._stop.wait(self.interval):
            self.stream.write("\r\033[K" + self._line())
            self.stream.flush()

    def __enter__(self):
        self._t0 = time.monotonic()
        if self.on:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.stream.write("\r\033[K")
            self.stream.flush()
        return False
