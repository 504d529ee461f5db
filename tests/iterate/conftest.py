"""The iterator's tests run against the test networks of :mod:`tests.networks`."""

from tests.networks import hierarchy, interop, lab, loop_thread

__all__ = ["hierarchy", "interop", "lab", "loop_thread"]
