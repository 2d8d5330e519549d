"""Wire cost and codec speed of telemetry: bytes on the wire per sample, the highest sample rate a 115200
baud link carries, and encode/decode throughput on CPython and on the MicroPython unix port.

Run with the host Python (`python benchmarks/protocol_bench.py`): it measures CPython in-process, then runs
this same file under MicroPython (`--measure`) for the board-side figures. Only the measuring part below
runs on MicroPython, so it keeps to what both interpreters have.
"""

import sys
import time

from traction_protocol import FrameDecoder, decode, encode

BAUD = 115200
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
BATCHES = (40, 1)  # samples per TELEMETRY frame: a full batch, and one frame per sample
RUN_S = 0.5  # per measurement


def now_us():
    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return time.perf_counter_ns() // 1000


def since_s(t0):
    if hasattr(time, "ticks_diff"):
        return time.ticks_diff(time.ticks_us(), t0) / 1e6
    return (now_us() - t0) / 1e6


def telemetry(batch):
    # a plausible hold around 100 N: measured force wobbling about its target
    samples = [(1000 + (i * 7) % 11 - 5, 1000) for i in range(batch)]
    return {"sample": 123456, "period_us": 10000, "state": 3, "phase": 0, "segment": 2, "samples": samples}


def encode_rate(batch):
    """TELEMETRY frames encoded per second."""
    fields = telemetry(batch)
    n = 0
    t0 = now_us()
    while since_s(t0) < RUN_S:
        for seq in range(20):
            encode("TELEMETRY", seq, fields)
        n += 20
    return n / since_s(t0)


def decode_rate(batch):
    """TELEMETRY frames received (framing, CRC, message decoding) per second, fed 64 bytes at a time."""
    stream = b"".join(encode("TELEMETRY", seq, telemetry(batch)) for seq in range(20))
    chunks = [stream[i:i + 64] for i in range(0, len(stream), 64)]
    decoder = FrameDecoder()
    n = 0
    t0 = now_us()
    while since_s(t0) < RUN_S:
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                decode(frame)
                n += 1
    return n / since_s(t0)


def measure():
    """{batch: (wire bytes per frame, encode frames/s, decode frames/s)} on this interpreter."""
    out = {}
    for batch in BATCHES:
        out[batch] = (len(encode("TELEMETRY", 0, telemetry(batch))), encode_rate(batch), decode_rate(batch))
    return out


# ---- host side only from here: run MicroPython, print the table ----

def measure_micropython():
    import json
    import os
    import subprocess
    from pathlib import Path

    from traction.micropython import interpreter

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, MICROPYPATH=str(root / "protocol"))
    proc = subprocess.run([interpreter(), str(Path(__file__).resolve()), "--measure"], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return {int(k): v for k, v in json.loads(proc.stdout).items()}


def report(results):
    print(f"Telemetry on a {BAUD} baud 8N1 link ({BAUD // BITS_PER_BYTE} bytes/s)")
    print()
    print(f"{'samples/frame':>13} {'wire bytes/frame':>16} {'bytes/sample':>12} {'max samples/s':>13}")
    for batch in BATCHES:
        size = results["CPython"][batch][0]
        per_sample = size / batch
        print(f"{batch:>13} {size:>16} {per_sample:>12.2f} {BAUD / BITS_PER_BYTE / per_sample:>13.0f}")
    print()
    print("Codec throughput (TELEMETRY; decode = framing + CRC + message decoding)")
    print()
    print(f"{'interpreter':<12} {'samples/frame':>13} {'encode frames/s':>15} {'encode samples/s':>16} "
          f"{'decode frames/s':>15} {'decode samples/s':>16}")
    for name, figures in results.items():
        for batch in BATCHES:
            _, enc, dec = figures[batch]
            print(f"{name:<12} {batch:>13} {enc:>15.0f} {enc * batch:>16.0f} "
                  f"{dec:>15.0f} {dec * batch:>16.0f}")


def main():
    if "--measure" in sys.argv:
        import json

        figures = measure()
        print(json.dumps({str(batch): figures[batch] for batch in figures}))  # JSON keys must be strings
        return
    results = {"CPython": measure()}
    results["MicroPython"] = measure_micropython()
    report(results)


if __name__ == "__main__":
    main()
