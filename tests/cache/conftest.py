"""The cache tests run against the test networks of :mod:`tests.networks`."""

from tests.networks import hierarchy, lab, loop_thread

__all__ = ["hierarchy", "lab", "loop_thread"]
