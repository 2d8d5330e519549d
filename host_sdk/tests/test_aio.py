"""traction.aio: the asyncio API over the same link (issue 15). The event loop never blocks on a command,
samples arrive through `async for`, and callbacks run on the loop's thread unless asked otherwise."""

import asyncio
import threading

import pytest
from traction.aio import AsyncDevice
from traction.session import Sample
from traction.treatment import Treatment

TREATMENT = ('region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\nforce = "250 N"\n'
             'ramp_up = "5 s"\nduration = "1 min"\n')


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.mark.e2e
def test_e2e_an_async_session_streams_samples_and_ends_with_a_verified_record(tmp_path):
    loop_thread = []
    on_loop, on_reader, ticks = [], [], []

    async def ticker():  # runs only while the loop is free: commands must not block it
        while True:
            ticks.append(1)
            await asyncio.sleep(0.05)

    async def main():
        loop_thread.append(threading.current_thread())
        tick = asyncio.create_task(ticker())
        async with await AsyncDevice.open("sim", store=tmp_path / "s.db",
                                          sim_options={"time_scale": 30,
                                                       "store_dir": tmp_path / "board"}) as device:
            status = await device.status()
            assert status.state in ("IDLE", "READY")
            session = device.session(Treatment.from_toml(TREATMENT), telemetry_hz=5)
            session.add_telemetry_callback(lambda s: on_loop.append(threading.current_thread()))
            session.add_event_callback(lambda e: on_reader.append(threading.current_thread()),
                                       on_reader_thread=True)
            await session.start()
            samples = [s async for s in session.telemetry()]
            record = await session.wait()
        tick.cancel()
        return samples, record

    samples, record = asyncio.run(main())
    assert record is not None and record.end["reason"] == "COMPLETED"
    assert len(samples) > 100 and all(isinstance(s, Sample) for s in samples)
    assert max(s.force_n for s in samples) > 200
    assert on_loop and set(on_loop) == set(loop_thread)  # telemetry callbacks on the event loop's thread
    assert on_reader and loop_thread[0] not in on_reader  # asked for: on the reader thread
    assert len(ticks) > 20  # the loop kept running while the treatment went on
