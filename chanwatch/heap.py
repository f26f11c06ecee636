"""The cyclic garbage collector's settings for a long-running `chanwatch run` process.

They are process-wide, so they are set here, by the program, once at start-up, and not by
a library layer (monitor/, storage/), whose code also runs inside tests, `chanwatch scan` and
benchmarks that own their process.

Why: the story detector keeps the window's posts as containers (each post's body, stems and
postings) and makes and drops some for every post. Python's default threshold (a collection
of the youngest objects every 700 container allocations net) then collects several times per
thousand posts, each time walking the young detector objects, and promotes the window's
posts to older generations, which full collections walk together with everything loaded at
start-up (pymorphy3's dictionaries, the matcher, asyncio and aiosqlite objects). Measured
with `bench/bench_storage.py`: about 6-8 µs of CPU per post with grouping on, 3.4% of
grouping's instructions (see README, Benchmarks, Storage): a small part of what grouping
costs (the detector's own work and the cache misses it brings are the rest), but one that
costs nothing to take away. Objects that are never garbage need not be walked at all, and
young ones less often.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Final

YOUNG_THRESHOLD: Final = 10_000
"""Container allocations (net) between two collections of the youngest generation: 700 by
default. At 10,000 the detector triggers one every few thousand posts; the garbage cycles
that wait longer for it (asyncio's, a failed request's) did not raise the peak memory of
ingesting 100,000 posts (183 MiB either way)."""


def tune() -> Callable[[], None]:
    """Collect the youngest generation less often, from now (start-up, before most
    allocations); returns what puts the settings back as they were (and unfreezes what
    `settle` froze), for a process that goes on after `chanwatch run` (tests)."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, *before[1:])

    def restore() -> None:
        gc.unfreeze()
        gc.set_threshold(*before)

    return restore


def settle() -> None:
    """Once start-up is done (modules loaded, the matcher compiled, the story detector rebuilt
    from the window's posts): collect what start-up left, then move every object alive now
    out of the collector's generations (`gc.freeze`), so that later collections walk only
    what was made since. Frozen objects are still freed when nothing refers to them any
    more (the rebuilt window's posts as they leave the window); only a reference cycle among
    them would never be collected, hence once, after start-up."""
    gc.collect()
    gc.freeze()
