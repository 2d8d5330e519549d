"""The Pico board's PIO programs (firmware/traction_fw/hal/rp2/pio.py), assembled by the vendored
MicroPython's own PIO assembler (ports/rp2/modules/rp2.py, run here under CPython) and run on a
cycle-by-cycle model of one PIO state machine (the instructions they use, RP2040 datasheet 3.4) against
a model of what is on the pins: an HX711 shifting out its conversions, a quadrature encoder turning."""

import sys
import tarfile
import types
from pathlib import Path

import pytest

from traction import build

PIO_SOURCE = Path(build.ROOT) / "firmware" / "traction_fw" / "hal" / "rp2" / "pio.py"
RP2_MODULE = "ports/rp2/modules/rp2.py"


def _rp2_source():
    source = Path(build.source_default())
    if source.is_dir():
        return (source / RP2_MODULE).read_text()
    if not source.exists():
        pytest.skip(f"no MicroPython tree at {source} (docs/firmware.md)")
    with tarfile.open(source) as tar:
        for member in tar:
            if member.name.endswith("/" + RP2_MODULE):
                return tar.extractfile(member).read().decode()
    raise AssertionError(f"{source} has no {RP2_MODULE}")


@pytest.fixture(scope="module")
def programs():
    """pio.py's programs as the rp2 port's asm_pio assembles them: {name: prog list}."""
    pio_consts = types.SimpleNamespace(SHIFT_LEFT=0, SHIFT_RIGHT=1, JOIN_NONE=0, JOIN_TX=1, JOIN_RX=2,
                                       OUT_LOW=0, OUT_HIGH=1, IN_LOW=0, IN_HIGH=1, IRQ_SM0=256)
    fakes = {"_rp2": types.ModuleType("_rp2"), "micropython": types.ModuleType("micropython")}
    fakes["_rp2"].PIO = pio_consts
    fakes["_rp2"].__all__ = ["PIO"]
    fakes["micropython"].const = lambda v: v
    saved = {k: sys.modules.get(k) for k in (*fakes, "rp2")}
    sys.modules.update(fakes)
    try:
        rp2 = types.ModuleType("rp2")
        exec(compile(_rp2_source(), RP2_MODULE, "exec"), rp2.__dict__)
        sys.modules["rp2"] = rp2
        ns = {"__name__": "pio"}
        exec(compile(PIO_SOURCE.read_text(), str(PIO_SOURCE), "exec"), ns)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return {"hx711_read": ns["hx711_read"], "quadrature": ns["quadrature"]}


class StateMachine:
    """One PIO state machine at offset 0: the instructions and options pio.py uses."""

    def __init__(self, prog, in_base=0):
        self.code = list(prog[0])
        execctrl = prog[4]
        self.wrap_bottom = execctrl >> 7 & 31
        self.wrap_top = execctrl >> 12 & 31
        self.side_count = 1 if prog[8] is not None else 0  # pio.py: one side-set pin, never optional
        self.in_base = in_base
        self.pc = 0
        self.x = self.y = self.isr = 0
        self.fifo = []
        self.side = 0
        self.stall = 0

    def cycle(self, pins):
        """One clock; pins: GPIO -> level."""
        if self.stall:
            self.stall -= 1
            return
        word = self.code[self.pc]
        op, field, arg = word >> 13, word >> 8 & 31, word & 0xFF
        if self.side_count:
            self.side = field >> 4
            delay = field & 15
        else:
            delay = field
        nxt = self.pc + 1 if self.pc != self.wrap_top else self.wrap_bottom
        if op == 0:  # JMP
            cond, addr = arg >> 5, arg & 31
            if cond == 0:
                take = True
            elif cond == 2:  # x--
                take = self.x != 0
                self.x = (self.x - 1) & 0xFFFFFFFF
            else:
                raise AssertionError(f"jmp condition {cond} not modelled")
            if take:
                nxt = addr
        elif op == 1:  # WAIT polarity, pin (relative to in_base)
            pol, src, index = arg >> 7, arg >> 5 & 3, arg & 31
            assert src == 1, "wait source not modelled"
            if pins[self.in_base + index] != pol:
                return  # waits here; no delay yet
        elif op == 2:  # IN
            src, n = arg >> 5, arg & 31 or 32
            if src == 0:
                value = sum(pins[self.in_base + i] << i for i in range(n))
            else:
                value = {1: self.x, 2: self.y, 3: 0}[src]
            self.isr = (self.isr << n | value & ((1 << n) - 1)) & 0xFFFFFFFF
        elif op == 4:  # PUSH (pio.py pushes noblock: a full FIFO drops the word)
            assert not arg & 0x80, "pull not modelled"
            if len(self.fifo) < 4:
                self.fifo.append(self.isr)
            self.isr = 0
        elif op == 5:  # MOV
            dest, mop, src = arg >> 5, arg >> 3 & 3, arg & 7
            value = {1: self.x, 2: self.y, 3: 0, 6: self.isr}[src]
            if mop == 1:
                value = ~value & 0xFFFFFFFF
            if dest == 1:
                self.x = value
            elif dest == 2:
                self.y = value
            elif dest == 5:
                nxt = value
            elif dest == 6:
                self.isr = value
            else:
                raise AssertionError(f"mov destination {dest} not modelled")
        elif op == 7:  # SET x
            assert arg >> 5 == 1, "set destination not modelled"
            self.x = arg & 31
        else:
            raise AssertionError(f"opcode {op} not modelled")
        self.pc = nxt
        self.stall = delay


def signed(word):
    return word - (1 << 32) if word & 0x80000000 else word


# ---- HX711 ----

class HX711Chip:
    """DOUT low when a conversion is ready; each PD_SCK rising edge shifts out the next bit, MSB first;
    the 25th rising edge ends the read (channel A, gain 128 next) and DOUT goes high."""

    def __init__(self, values):
        self.values = list(values)
        self.bits = None
        self.pulses = 0
        self.sck = 0
        self.high_run = 0
        self.longest_high = 0
        self.dout = 1

    def convert(self):
        self.bits = [(self.values[0] & 0xFFFFFF) >> (23 - i) & 1 for i in range(24)]
        self.pulses = 0
        self.dout = 0

    def clock(self, sck):
        if sck and not self.sck:
            self.pulses += 1
            if self.pulses <= 24:
                self.dout = self.bits[self.pulses - 1]
            else:
                self.dout = 1
                self.values.pop(0)
        self.high_run = self.high_run + 1 if sck else 0
        self.longest_high = max(self.longest_high, self.high_run)
        self.sck = sck


def test_hx711_program_reads_each_conversion_with_25_short_pulses(programs):
    # pins: DOUT on GPIO 0 (in_base), PD_SCK by side-set; 1 cycle = 1 us at the program's 1 MHz
    readings = [-5, 1234567, -8388608, 8388607, 0]
    chip = HX711Chip(readings)
    sm = StateMachine(programs["hx711_read"])
    pushed, pulses = [], []
    for t in range(5000):
        if chip.values and chip.dout and t % 800 == 100:
            if chip.pulses:
                pulses.append(chip.pulses)
            chip.convert()
        sm.cycle({0: chip.dout})
        chip.clock(sm.side)
        while sm.fifo:
            pushed.append(signed(sm.fifo.pop(0)) >> 8)  # what HX711.read() does with the word
    pulses.append(chip.pulses)
    assert pushed == readings
    assert pulses == [25] * len(readings)
    assert chip.longest_high <= 50  # the HX711 powers down after 60 us high; its data sheet allows 50
    assert sm.side == 0  # PD_SCK left low between conversions


def test_hx711_program_waits_while_dout_is_high(programs):
    sm = StateMachine(programs["hx711_read"])
    for _ in range(1000):
        sm.cycle({0: 1})
        assert sm.side == 0
    assert sm.fifo == [] and sm.pc == 0


# ---- quadrature encoder ----

FORWARD = [(0, 0), (1, 0), (1, 1), (0, 1)]  # (A, B): A leads B


def turn(sm, steps, start, hold=40):
    """Move the encoder by steps (negative: backwards) from phase index start; returns the last count the
    program pushed and the phase index reached."""
    last = None
    phase = start
    for _ in range(abs(steps)):
        phase = (phase + (1 if steps > 0 else -1)) % 4
        a, b = FORWARD[phase]
        for _ in range(hold):
            sm.cycle({6: a, 7: b})
            if sm.fifo:
                last = signed(sm.fifo[-1])
                sm.fifo.clear()
    return last, phase


def test_quadrature_program_fills_its_pio_block(programs):
    assert len(programs["quadrature"][0]) == 32  # only offset 0 fits: its jump table is absolute


def test_quadrature_counts_both_ways_and_below_zero(programs):
    sm = StateMachine(programs["quadrature"], in_base=6)
    count, phase = turn(sm, 50, 0)
    assert count == 50
    count, phase = turn(sm, -20, phase)
    assert count == 30
    count, phase = turn(sm, -37, phase)
    assert count == -7


def test_quadrature_ignores_a_double_step(programs):
    sm = StateMachine(programs["quadrature"], in_base=6)
    count, phase = turn(sm, 3, 0)
    assert count == 3
    a, b = FORWARD[(phase + 2) % 4]  # both lines change at once: direction unknown
    for _ in range(40):
        sm.cycle({6: a, 7: b})
    assert signed(sm.fifo[-1]) == 3
