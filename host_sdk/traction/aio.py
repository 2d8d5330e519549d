"""The SDK for asyncio applications: the same link, device and session, with awaitable commands.

    import asyncio
    from traction import Treatment
    from traction.aio import AsyncDevice

    async def main():
        async with await AsyncDevice.open("sim") as device:
            session = device.session(Treatment.load("treatment.toml"), telemetry_hz=5)
            await session.start()
            async for sample in session.telemetry():   # ends when the treatment ends
                print(sample.t_s, sample.force_n)
            record = await session.wait()

    asyncio.run(main())

A command to the board can take seconds when the line is noisy (retries, SPEC section 5): each one runs in
a worker thread (asyncio.to_thread), so the event loop never blocks. Samples and events reach the loop
through call_soon_threadsafe; callbacks run on the event loop's thread, never on the link's reader thread,
unless added with on_reader_thread=True (then they must be quick and must not touch the loop).
"""

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from traction.device import Device, Status
from traction.record import Record
from traction.session import DEFAULT_TELEMETRY_HZ, Event, Sample, Session
from traction.store import Store
from traction.treatment import Treatment

POLL_S = 0.25  # how often telemetry() asks the board whether the treatment ended, while no sample comes


class AsyncDevice:
    """A connected board for asyncio code: open with `await AsyncDevice.open(port)`, close with
    `await device.close()` or `async with`. `.device` is the underlying traction.Device."""

    def __init__(self, device: Device):
        self.device = device

    @classmethod
    async def open(cls, port: str, store: "Store | str | os.PathLike[str] | None" = None,
                   key: bytes | None = None, sim_options: dict | None = None) -> "AsyncDevice":
        """Device.open in a worker thread (handshake, clock, lease, records left on the board)."""
        device = await asyncio.to_thread(Device.open, port, store=store, key=key, sim_options=sim_options)
        return cls(device)

    @property
    def info(self):
        """What the board said about itself at HELLO (traction.device.Info)."""
        return self.device.info

    @property
    def store(self) -> Store:
        """The device's local store (traction.Store)."""
        return self.device.store

    async def status(self) -> Status:
        """The board's Status (GET_STATUS)."""
        return await asyncio.to_thread(self.device.status)

    async def command(self, name: str, **fields: Any):
        """Any command (SPEC section 4); the reply message. NakError if the board refuses it."""
        return await asyncio.to_thread(self.device.command, name, **fields)

    async def clear_fault(self) -> str:
        """Device.clear_fault: clears a latched fault whose cause is gone; the new state."""
        return await asyncio.to_thread(self.device.clear_fault)

    async def tare(self) -> str:
        """Device.tare: zeroes the load cell (no force on the line); the new state."""
        return await asyncio.to_thread(self.device.tare)

    async def stop(self) -> str:
        """Device.stop: a gentle stop of whatever runs; the new state."""
        return await asyncio.to_thread(self.device.stop)

    async def estop(self) -> str:
        """Device.estop: an emergency stop (latches fault ESTOP); the new state."""
        return await asyncio.to_thread(self.device.estop)

    def session(self, treatment: Treatment, telemetry_hz: float = DEFAULT_TELEMETRY_HZ,
                source: str = "", adc_samples: bool = False) -> "AsyncSession":
        """A session of this treatment on this board (not started: `await session.start()`). Call it from
        a coroutine: its samples and events are delivered to the running event loop. adc_samples: also
        keep every load-cell conversion (`.session.adc`, traction.adc)."""
        return AsyncSession(self, treatment, telemetry_hz=telemetry_hz, source=source,
                            adc_samples=adc_samples)

    async def close(self):
        """Stop keeping the lease, close the link (and a virtual board this device started)."""
        await asyncio.to_thread(self.device.close)

    async def __aenter__(self) -> "AsyncDevice":
        return self

    async def __aexit__(self, *exc):
        await self.close()


class AsyncSession:
    """A treatment session for asyncio code; `.session` is the underlying traction.Session (its
    attributes, such as events, record_error and outage, read the same)."""

    def __init__(self, device: AsyncDevice, treatment: Treatment, telemetry_hz: float = DEFAULT_TELEMETRY_HZ,
                 source: str = "", adc_samples: bool = False):
        self.session = Session(device.device, treatment, telemetry_hz=telemetry_hz, source=source,
                               adc_samples=adc_samples)
        self._loop = asyncio.get_running_loop()
        self._samples: asyncio.Queue[Sample] = asyncio.Queue()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._on_telemetry: list[Callable[[Sample], Any]] = []
        self._on_event: list[Callable[[Event], Any]] = []
        self.session.add_telemetry_callback(lambda s: self._loop.call_soon_threadsafe(self._sample, s))
        self.session.add_event_callback(lambda e: self._loop.call_soon_threadsafe(self._event, e))

    # ---- control: each command in a worker thread ----
    async def start(self) -> "AsyncSession":
        """SETUP, every PHASE, START (Session.start): refuses what the board cannot run before it moves."""
        await asyncio.to_thread(self.session.start)
        return self

    async def pause(self) -> str:
        """Hold the force measured now and freeze the treatment timer; the new state."""
        return await asyncio.to_thread(self.session.pause)

    async def resume(self) -> str:
        """Continue the profile where it paused; the new state."""
        return await asyncio.to_thread(self.session.resume)

    async def edit_force(self, newtons: float) -> str:
        """Session.edit_force: the new force for the current phase (ForceError, nothing sent, above
        limit_n)."""
        return await asyncio.to_thread(self.session.edit_force, newtons)

    async def stop(self) -> str:
        """Gentle stop: the board releases gradually and seals the record; the new state."""
        return await asyncio.to_thread(self.session.stop)

    async def estop(self) -> str:
        """Emergency stop: latches fault ESTOP, the board releases in its controlled way."""
        return await asyncio.to_thread(self.session.estop)

    async def status(self) -> Status | None:
        """The board's Status, or None while it does not answer (then .session.outage says why)."""
        return await asyncio.to_thread(self.session.status)

    async def wait(self, timeout: float | None = None) -> Record | None:
        """Until the treatment ends; then the record fetched, verified, stored and acknowledged
        (None with .session.record_error set when it did not verify)."""
        return await asyncio.to_thread(self.session.wait, timeout)

    @property
    def ended(self) -> bool:
        """True once the treatment is over (its record may still be on its way: wait())."""
        return self.session.ended

    # ---- what comes back ----
    def add_telemetry_callback(self, fn: Callable[[Sample], Any], on_reader_thread: bool = False):
        """fn(sample) for every sample, on the event loop (or on the link's reader thread if asked)."""
        if on_reader_thread:
            self.session.add_telemetry_callback(fn)
        else:
            self._on_telemetry.append(fn)

    def add_event_callback(self, fn: Callable[[Event], Any], on_reader_thread: bool = False):
        """fn(event) for every event, on the event loop (or on the link's reader thread if asked)."""
        if on_reader_thread:
            self.session.add_event_callback(fn)
        else:
            self._on_event.append(fn)

    async def telemetry(self) -> AsyncIterator[Sample]:
        """Samples as they arrive, until the treatment ends."""
        async for sample in self._drain(self._samples):
            yield sample

    async def events(self) -> AsyncIterator[Event]:
        """Events as they arrive, until the treatment ends."""
        async for event in self._drain(self._events):
            yield event

    async def _drain(self, queue):
        while True:
            if self.session.ended:
                # What arrived before the end is handed out, then the iteration stops (a faulted board
                # keeps sending telemetry).
                while not queue.empty():
                    yield queue.get_nowait()
                return
            try:
                yield await asyncio.wait_for(queue.get(), POLL_S)
            except TimeoutError:
                await self.status()  # marks the session ended once the board is no longer treating

    def _sample(self, sample: Sample):
        self._samples.put_nowait(sample)
        for fn in self._on_telemetry:
            self._loop.call_soon(fn, sample)

    def _event(self, event: Event):
        self._events.put_nowait(event)
        for fn in self._on_event:
            self._loop.call_soon(fn, event)
