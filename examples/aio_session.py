"""The asyncio API (traction.aio): run the cervical example on a virtual board, print the force every
second of device time, and keep the record.

    python examples/aio_session.py              # a virtual board at x30
    python examples/aio_session.py /dev/ttyACM0 # a real board (its key must be in the store)
"""

import asyncio
import sys

from traction.aio import AsyncDevice
from traction.resources import resource
from traction.treatment import Treatment


async def main(port: str = "sim") -> int:
    treatment = Treatment.load(resource("examples/cervical_intermittent.toml"))  # shipped with the SDK
    async with await AsyncDevice.open(port) as device:
        session = device.session(treatment, telemetry_hz=1)
        # Callbacks run on the event loop, like the rest of this function.
        session.add_event_callback(lambda e: print("event:", e.describe(treatment.unit, treatment)))
        await session.start()
        async for sample in session.telemetry():  # ends by itself when the treatment ends
            print(f"{sample.t_s:6.0f} s  {sample.state:<9} {sample.force_n:6.1f} N  "
                  f"(target {sample.target_n:.1f} N)")
        record = await session.wait()
    if record is None:
        print(f"no verified record: {session.session.record_error or 'the board sent none'}")
        return 1
    print(f"record {record.record_id}: {record.end['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:])))
