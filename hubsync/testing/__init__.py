"""In-memory twins of hubsync's ports (:mod:`hubsync.ports`), shipped for tests.

Like ``structlog.testing`` or httpx's ``MockTransport``: each twin implements one port
with the real adapter's semantics and adds what a test needs to drive and inspect it.

==================  =============================  ====================================
twin                port                           real adapter
==================  =============================  ====================================
``FakeClock``       ``ports.Clock``                ``ports.SystemClock``
``MemoryApi``       ``ports.RemoteApi``            ``hubspot.HubSpotClient`` (+ emulator)
``ScriptedWatchers``  ``ports.WatcherFactory``     ``watcher.Watcher``
``MemoryKeys``      ``ports.KeyLookup``            ``credentials.find_key``
==================  =============================  ====================================

``tests/contract/`` runs one suite against ``MemoryApi`` and the real client over HTTP
against the emulator; the assertions are the same, which is what makes the twin safe
to test the engine with. Nothing here sleeps for real: time moves by
``FakeClock.advance``, and tests wait on barriers (``FakeClock.sleepers``,
``FakeClock.quiescent`` — every task of a system blocked on the clock, so nothing happens
until it moves —, ``Gate.reached``, ``ScriptedWatchers.started``).
``tests/engine/twins_helpers.py`` runs a whole engine on these twins.
"""

from hubsync.testing.clock import FakeClock
from hubsync.testing.keys import MemoryKeys
from hubsync.testing.memory_api import DROPPED, Fault, Gate, MemoryApi, MemoryRequest
from hubsync.testing.watcher import ScriptedWatcher, ScriptedWatchers

__all__ = [
    "DROPPED",
    "FakeClock",
    "Fault",
    "Gate",
    "MemoryApi",
    "MemoryKeys",
    "MemoryRequest",
    "ScriptedWatcher",
    "ScriptedWatchers",
]
