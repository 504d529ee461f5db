"""An asyncio event loop in a daemon thread, shared by the test suites that run
servers (test networks, the DNS server, the API) next to synchronous test code.
(pytest-asyncio is not used.)"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self, name: str = "test-loop", timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run *coro* in the loop thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(
            self.timeout if timeout is None else timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run the plain function *fn* inside the loop thread."""
        async def wrapper() -> T:
            return fn()
        return self.run(wrapper(), timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()
