"""The emulated Pico's physical world: hal/sim's plant, motor, load cell, switches and fault injection (the
virtual board's own code, not a copy), run by the MicroPython unix port beside the emulator.

    micropython plant.py CONFIG.json    (stdin/stdout: the emulator harness's pin exchange, harness.mjs)

CONFIG is firmware/boards/sim.json with the link in memory, free-running time and the side channel set,
plus "wiring": the Pico's pins as boards/pico.json has them. For each line from the harness (the driver's
inputs at the end of a plant period of emulated time), the sim board takes one control period
(Clock.wait_tick: the plant steps, the load cell samples, the current sense and encoder follow) and one
line goes back: what the load cell's ADC (the HX711 or the ADS1220: the same counts), the encoder, the
current-sense output and the switches present on their pins. The side channel (inject.jsonl, plant.json)
is the virtual board's, so `traction`'s SideChannel and the hil_tests fault fixtures work unchanged.
"""

import json
import sys

from traction_fw.hal.sim.board import Board, BoardReset


def level(on, active):
    return (1 if active else 0) if on else (0 if active else 1)


def answer(board, wiring):
    inputs = wiring["inputs"]
    cell = board.loadcell
    stop, jumper = inputs["stop_switch"], inputs["service_jumper"]
    pins = {
        str(stop["pin"]): level(board.stop_switch.pressed(), stop["active"]),
        str(jumper["pin"]): level(board.service_jumper(), jumper["active"]),
    }
    if "limit_switch" in inputs:
        pins[str(inputs["limit_switch"]["pin"])] = level(board.limit_switch.tripped(),
                                                         inputs["limit_switch"]["active"])
    return {
        "load": cell.counts,
        "load_ready": not cell.stale,  # a stale ADC never signals a conversion (HX711 DOUT, ADS1220 DRDY)
        "encoder": board.motor.position(),
        "current": board.motor.current(),
        "pins": pins,
    }


def drive(board, wiring, msg):
    """The driver's inputs, as the firmware set its pins, onto the sim motor."""
    motor = board.motor
    on = msg["enable"] == wiring["enable_active"]
    if on and not motor.enabled():
        motor.enable()
    elif not on and motor.enabled():
        motor.disable()
    speed = int(msg["duty"] * 1000 + 0.5)
    motor.command(speed if msg["dir"] == wiring["dir_in_level"] else -speed)


def main():
    with open(sys.argv[1]) as f:
        config = json.load(f)
    wiring = config["wiring"]
    board = Board(config)
    out = sys.stdout
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        msg = json.loads(line)
        if "t_us" not in msg or "enable" not in msg:
            continue
        drive(board, wiring, msg)
        try:
            board.clock.wait_tick()
        except BoardReset:
            out.write(json.dumps({"reset": True}) + "\n")  # the reset button: the harness reboots the MCU
            out.flush()
            return
        board.service()  # the side channel: injections in, plant.json out
        out.write(json.dumps(answer(board, wiring)) + "\n")
        out.flush()


main()
