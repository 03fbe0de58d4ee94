"""Work that must not hold the event loop: rendering many accounts in a worker thread.

A render of 10,000 accounts builds hundreds of thousands of short-lived objects; left alone they trigger
full garbage collections of the process's millions of objects, which pause every thread, the event loop's
included, for up to a second. ``render_off_loop`` runs a render in a worker thread with the cyclic
collector off (rendered text holds no cycles: reference counting frees it all the same).
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_rendering = 0
_rendering_lock = threading.Lock()


@contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """No cyclic garbage collection while a render runs (in any thread; nested and concurrent renders count)."""
    global _rendering
    with _rendering_lock:
        ours = _rendering > 0 or gc.isenabled()  # someone else turned it off: leave it so
        if ours:
            _rendering += 1
            gc.disable()
    try:
        yield
    finally:
        if ours:
            with _rendering_lock:
                _rendering -= 1
                if _rendering == 0:
                    gc.enable()


async def render_off_loop(render: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``render(*args, **kwargs)`` in a worker thread, without cyclic garbage collection meanwhile."""

    def run() -> T:
        with without_cyclic_gc():
            return render(*args, **kwargs)

    return await asyncio.to_thread(run)
