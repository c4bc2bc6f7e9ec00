"""A command run ahead of need: what it reports is held until the caller claims its outcome.

A sync starts the source's `discover` beside the specs, before the checkpoint is read and `start` emitted; its
log and error messages belong to the run, so they are emitted only when the run claims the catalog, after
`start`. A run that fails before that point drops them with the outcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar, cast

import anyio
from sync_protocol import Message

T = TypeVar("T")


class HeldCall(Generic[T]):
    """The outcome and the messages of one call of `call(on_message)`, run by `run` in a task of its own."""

    def __init__(self, call: Callable[[Callable[[Message], None]], Awaitable[T]]) -> None:
        self._call = call
        self._messages: list[Message] = []
        self._done = anyio.Event()
        self._result: T | None = None
        self._failure: Exception | None = None
        self.started = False

    async def run(self) -> None:
        """Run the call, keeping its result or its exception (raised by `claim`); cancellation passes through."""
        self.started = True
        try:
            self._result = await self._call(self._messages.append)
        except Exception as exc:  # raised to the claimant, in the order the run would have met it
            self._failure = exc
        finally:
            self._done.set()

    async def claim(self, on_message: Callable[[Message], None]) -> T:
        """Wait for the outcome (running the call now if nobody started it), pass on the held messages in order,
        then return the result or raise the failure."""
        if not self.started:
            await self.run()
        await self._done.wait()
        for message in self._messages:
            on_message(message)
        if self._failure is not None:
            raise self._failure
        return cast(T, self._result)
