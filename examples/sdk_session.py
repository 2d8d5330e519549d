"""A short SDK script: run the lumbar progressive example on a virtual board, steer it, and keep its record.

    python examples/sdk_session.py              # a virtual board at x60
    python examples/sdk_session.py /dev/ttyACM0 # a real board (its key must be in the store)
"""

import sys

import traction
from traction.resources import resource
from traction.summary import summarize


def main(port: str = "sim") -> None:
    treatment = traction.Treatment.load(resource("examples/lumbar_progressive.toml"))  # shipped with the SDK
    for warning in treatment.warnings:
        print("warning:", warning)
    options = {"time_scale": 60} if port == "sim" else None
    with traction.Device.open(port, sim_options=options) as device:
        print(f"board {device.info.serial}, firmware {device.info.firmware}, state {device.status().state}")
        session = traction.Session(device, treatment, telemetry_hz=2,
                                   on_event=lambda e: print("event:", e.describe(treatment.unit, treatment)))
        session.start()
        edited_at = None
        for sample in session.telemetry():  # ends by itself when the treatment ends
            if sample.phase == 1 and sample.segment == "HOLD" and edited_at is None:
                session.edit_force(sample.target_n * 0.9)  # the patient asks for a little less
                edited_at = sample.t_s
            elif edited_at is not None and sample.t_s > edited_at + 60:
                session.stop()  # enough for today: released gently, and the record is still sealed
                break
        record = session.wait()  # fetched, verified with the device key, stored, acknowledged
    if record is None:  # the board sent none, or it did not verify: the raw data is in the store
        sys.exit(f"no verified record: {session.record_error or 'the board sent none'}")
    summary = summarize(record)
    print(f"record {record.record_id}: {record.end['reason']}; treatment {summary['treatment_s']:.0f} s, "
          f"peak {summary['peak_n']:.1f} N, {len(summary['edits'])} edit(s); stored in {device.store.path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
