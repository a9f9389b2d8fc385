"""Fault injection: make a named point of the pipeline fail, hang or crash on purpose.

Tests use it to reach states no honest input reaches on every machine: a document that can
never finish within any time budget (so a time-budget test does not depend on how fast the
machine parses), a stage that raises (so "a failing later stage costs a warning, not the
document" is checked stage by stage), a worker that dies.

    GAZETTE_FAULTS="parse=hang@slow.pdf;outline=raise"

Entries are ``point=action`` or ``point=action@text`` (only for documents whose source
contains ``text``), separated by ``;``. Actions: ``raise`` (``InjectedFault``), ``hang``
(block forever), ``crash`` (the process kills itself with SIGKILL). Points are named where
``check`` is called: ``parse`` (a document's parse starts) and each stage of a document.
The variable is read from the environment of the process that runs the point: a parse
service started before it was set does not see it (``isolation.ParseService.close`` ends
one; the next document starts a new one). Unset, a check costs a dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import threading
from functools import lru_cache

ENV = "GAZETTE_FAULTS"
ACTIONS = ("raise", "hang", "crash")


class InjectedFault(RuntimeError):
    """Raised at a point that ``GAZETTE_FAULTS`` asks to fail."""


@lru_cache(maxsize=8)
def _parse(spec: str) -> dict[str, list[tuple[str, str]]]:
    """``"a=raise@x;b=hang"`` -> ``{"a": [("raise", "x")], "b": [("hang", "")]}``."""
    out: dict[str, list[tuple[str, str]]] = {}
    for entry in filter(None, (e.strip() for e in spec.split(";"))):
        point, sep, rest = entry.partition("=")
        action, _, where = rest.partition("@")
        if not sep or action not in ACTIONS:
            raise ValueError(f"{ENV}: {entry!r} is not point=action[@text] with action one of {ACTIONS}")
        out.setdefault(point.strip(), []).append((action, where))
    return out


def check(point: str, source: str = "") -> None:
    """Fail, hang or crash here if ``GAZETTE_FAULTS`` names this point (for this source)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    for action, where in _parse(spec).get(point, ()):
        if where and where not in source:
            continue
        if action == "raise":
            raise InjectedFault(f"fault injected at {point}")
        if action == "hang":
            threading.Event().wait()  # never set: no time budget is long enough
        os.kill(os.getpid(), signal.SIGKILL)
