# The simulated board (hal/sim) under MicroPython: determinism, plant physics, faults, clock, allocation.
import json

import micropython

from traction_fw import hal


def config(region="lumbar", seed=1, **sim):
    with open("../boards/sim.json") as f:
        cfg = json.load(f)
    cfg["sim"]["link"] = "memory"
    cfg["sim"]["free_run"] = True
    cfg["sim"]["region"] = region
    cfg["sim"]["seed"] = seed
    for k in sim:
        cfg["sim"][k] = sim[k]
    return cfg


def run(board, ticks, speed=None):
    """wait_tick n times, commanding speed (if given); returns the last load-cell counts."""
    counts = None
    for _ in range(ticks):
        board.clock.wait_tick()
        if speed is not None:
            board.motor.command(speed)
        if board.loadcell.ready():
            counts = board.loadcell.read()
    return counts


def trace(seed, region="lumbar"):
    b = hal.load(config(region, seed))
    b.motor.enable()
    out = []
    for _ in range(60):
        out.append((run(b, 10, 400), b.sim.true_force_dn(), b.motor.position()))
    return out


def test_same_seed_same_run():
    assert trace(7) == trace(7)


def test_other_seed_other_noise():
    assert trace(7) != trace(8)


def hal_calls(board, buf):
    """What the application calls inside its heap-locked tick."""
    c = board.clock
    c.ticks_ms()
    c.ticks_us()
    t = 0
    if board.loadcell.ready():
        t = board.loadcell.read()
    board.loadcell.rails()
    board.motor.command(500)
    board.motor.enabled()
    board.motor.position()
    board.stop_switch.pressed()
    board.service_jumper()
    board.watchdog.feed()
    board.link.read(buf)
    board.link.write(buf)
    return t


def test_tick_calls_do_not_allocate():
    b = hal.load(config())
    b.motor.enable()
    b.watchdog.start(1000)
    buf = bytearray(16)
    b.link.host_write(b"0123456789abcdef" * 4)
    for _ in range(300):
        b.clock.wait_tick()  # may allocate: the plant steps here
        micropython.heap_lock()
        try:
            hal_calls(b, buf)
        finally:
            micropython.heap_unlock()
    assert b.sim.true_force_dn() > 0  # the calls did drive the plant
    assert len(b.link.host_read()) == 300 * 16
