"""The DNS server's tests run against the test networks of :mod:`tests.networks`."""

from tests.networks import interop, lab, loop_thread

__all__ = ["interop", "lab", "loop_thread"]
