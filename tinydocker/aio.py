"""The API for asyncio: the same calls, awaited, each run in a worker thread (the calls
wait on the kernel and on files; the event loop goes on meanwhile).

    import asyncio, tinydocker.aio as td

    async def main():
        jobs = [await td.run(f"job{i}", ["sh", "-c", f"echo {i}"], detach=True) for i in range(100)]
        async with jobs[0] as c:
            async for stream, data in c.stream():
                print(stream, data)
        codes = await asyncio.gather(*(c.wait(timeout=60, kill=True) for c in jobs))

Any function of tinydocker's API is here as a coroutine of the same name; run(...,
detach=True) gives an AsyncContainer.
"""

from __future__ import annotations

import asyncio
import functools

from . import api


class AsyncContainer:
    """A Container's calls, awaited; `async for` over stream(); `async with`."""

    def __init__(self, container):
        self.sync = container
        self.id, self.name = container.id, container.name

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    async def wait(self, timeout: float | None = None, kill: bool = False) -> int:
        return await asyncio.to_thread(self.sync.wait, timeout, kill)

    async def output(self) -> tuple[bytes, bytes]:
        return await asyncio.to_thread(self.sync.output)

    async def stream(self, stdout: bool = True, stderr: bool = True, follow: bool = True):
        """(stream, bytes) as they come: a worker thread reads, the loop gets each piece."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        done = object()

        def pump():
            try:
                for piece in self.sync.stream(stdout, stderr, follow):
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
            except BaseException as e:  # noqa: BLE001 - raised again in the loop's task
                loop.call_soon_threadsafe(queue.put_nowait, e)
            loop.call_soon_threadsafe(queue.put_nowait, done)

        worker = loop.run_in_executor(None, pump)
        while True:
            piece = await queue.get()
            if piece is done:
                break
            if isinstance(piece, BaseException):
                raise piece
            yield piece
        await worker

    def __getattr__(self, name: str):
        call = getattr(self.sync, name)
        if not callable(call):
            return call

        async def awaited(*args, **kwargs):
            return await asyncio.to_thread(call, *args, **kwargs)
        return awaited

    async def __aenter__(self) -> "AsyncContainer":
        return self

    async def __aexit__(self, kind, value, tb) -> None:
        await asyncio.to_thread(self.sync.__exit__, kind, value, tb)


def __getattr__(name: str):
    function = getattr(api, name)
    if not callable(function) or isinstance(function, type):
        return function

    @functools.wraps(function)
    async def awaited(*args, **kwargs):
        result = await asyncio.to_thread(function, *args, **kwargs)
        return AsyncContainer(result) if isinstance(result, api.Container) else result
    globals()[name] = awaited
    return awaited
