# The Pico board's hal (hal/rp2) on the unix port, over stand-ins for `machine` and `rp2`
# (fw_harness_rp2.py): what it drives on the pins, how it reads the ADCs, encoder and switches, when it
# feeds the watchdog, how the link queues, and that the application's tick on it allocates nothing.
import json
import sys

import fw_harness as h
import fw_harness_rp2 as w

w.install()

import micropython  # noqa: E402

from fw_harness_rp2 import ADC, PWM, SPI, WDT, Pin, StateMachine, machine  # noqa: E402
from traction_fw import hal  # noqa: E402
from traction_fw.hal.rp2 import board as rp2board  # noqa: E402
from traction_fw.hal.rp2.link import UsbLink  # noqa: E402
from traction_fw.hal.rp2.region import FlashRegion  # noqa: E402
from traction_fw.spool import Spool  # noqa: E402

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."


def pico(**changes):
    """boards/pico.json with changes: "loadcell.adc": "ads1220" sets one field."""
    with open(HERE + "/../boards/pico.json") as f:
        cfg = json.load(f)
    for path, value in changes.items():
        at = cfg
        keys = path.split("__")
        for k in keys[:-1]:
            at = at[k]
        at[keys[-1]] = value
    return cfg


def wired():
    """A fresh world with the stop and limit switches closed (normally closed, pins pulled low)."""
    w.reset_world()
    Pin.level[14] = Pin.level[15] = 0


def board(**changes):
    wired()
    return hal.load(pico(**changes))


def hx_word(counts):
    """What the HX711 program pushes for a 24-bit reading: the bits moved up by 8."""
    return (counts & 0xFFFFFF) << 8


# ---- the load cell ----

def test_hx711_reads_signed_counts_newest_first():
    b = board()
    sm = StateMachine.sms[0]
    assert sm.running and sm.freq == 1000000
    assert sm.in_base == 2 and sm.sideset_base == 3
    assert Pin.level[4] == 1  # RATE high: 80 samples/s
    assert not b.loadcell.ready()
    sm.put_word(hx_word(1234))
    sm.put_word(hx_word(-5))
    assert b.loadcell.ready()
    assert b.loadcell.read() == -5
    assert not b.loadcell.ready()
    assert b.loadcell.read() == -5  # no new sample: the last one again
    sm.put_word(hx_word(-8388608))
    assert b.loadcell.read() == -8388608
    assert b.loadcell.rails() == (-8388608, 8388607)


def test_hx711_too_slow_for_the_loop_is_refused():
    try:
        board(loadcell__sps=10)
    except ValueError as e:
        assert "sps 10" in str(e) and "silent" in str(e)
    else:
        assert False, "an HX711 at 10 samples/s at 100 Hz was accepted"


def test_ads1220_configured_and_read_on_data_ready():
    b = board(loadcell__adc="ads1220", loadcell__sps=660)
    spi = SPI.last
    assert spi.mode == (0, 1)  # SPI mode 1
    assert bytes(spi.regs) == bytes((0x0E, 0x94, 0x40, 0x00))  # gain 128, 660 SPS turbo continuous
    assert spi.commands[0] == b"\x06" and spi.commands[-1] == b"\x08"  # RESET first, START last
    assert not b.loadcell.ready()
    spi.sample[:] = b"\xff\xff\xfe"
    Pin.drive(20, 0)  # DRDY falls
    assert b.loadcell.ready() and b.loadcell.read() == -2
    assert not b.loadcell.ready()
    Pin.drive(20, 1)
    spi.sample[:] = b"\x7f\xff\xff"
    Pin.drive(20, 0)
    assert b.loadcell.read() == 8388607


def test_ads1220_keeps_every_conversion_in_its_ring():
    """The DRDY IRQ puts each conversion in the sample ring, however many come between two ticks."""
    from array import array

    b = board(loadcell__adc="ads1220", loadcell__sps=660)
    spi = SPI.last
    ring = b.loadcell.samples
    assert b.loadcell.sps == 660
    for v in (5, -7, 300000):
        spi.sample[:] = (v & 0xFFFFFF).to_bytes(3, "big")
        Pin.drive(20, 0)
        Pin.drive(20, 1)
    out = array("i", bytes(16))
    assert ring.pending() == 3 and ring.drain(out) == 3 and list(out[:3]) == [5, -7, 300000]
    assert b.loadcell.read() == 300000  # the tick still takes the newest


def test_hx711_keeps_every_word_it_reads_in_its_ring():
    from array import array

    b = board()
    sm = StateMachine.sms[0]
    for v in (1, -2, 3):
        sm.put_word(hx_word(v))
    assert b.loadcell.read() == 3
    out = array("i", bytes(16))
    assert b.loadcell.sps == 80 and b.loadcell.samples.drain(out) == 3 and list(out[:3]) == [1, -2, 3]


def test_ads1220_that_does_not_answer_is_an_error():
    w.reset_world()
    cfg = pico(loadcell__adc="ads1220", loadcell__sps=660)
    orig = SPI.__init__

    def mute(self, *a, **k):
        orig(self, *a, **k)
        self.mute = True

    SPI.__init__ = mute
    try:
        hal.load(cfg)
    except OSError as e:
        assert "ADS1220" in str(e)
    else:
        assert False, "a silent ADS1220 was accepted"
    finally:
        SPI.__init__ = orig


def test_ads1220_data_ready_paces_the_loop():
    b = board(loadcell__adc="ads1220", loadcell__sps=2000, clock__pace="drdy")
    spi = SPI.last
    assert spi.regs[1] >> 5 == 6  # 2000 SPS
    for i in range(40):
        Pin.drive(20, 1)
        Pin.drive(20, 0)
        assert b.clock.due == (i + 1) // 20


def test_a_silent_adc_pacing_the_loop_leaves_its_periods_to_the_guard_timer():
    b = board(loadcell__adc="ads1220", loadcell__sps=2000, clock__pace="drdy")
    guard = w.Timer.last
    assert guard.hard and guard.freq == 400  # four checks a period at 100 Hz
    now = [0]
    b.clock.ticks_us = lambda: now[0]  # the board's time, stepped by the test
    b.clock._marked = 0
    for i in range(20):  # a period of conversions, 500 us apart: the ADC paces
        now[0] += 500
        Pin.drive(20, 1)
        Pin.drive(20, 0)
        guard.callback(guard)
    assert b.clock.due == 1
    for _ in range(10):  # the ADC falls silent: 2.5 ms a check, 10 ms a period
        now[0] += 2500
        guard.callback(guard)
    # 25 ms of silence: the guard marked the periods past 12.5 ms since the last mark (at 12.5 and 25)
    assert b.clock.due == 3


def test_drdy_pacing_needs_a_rate_that_divides():
    try:
        board(loadcell__adc="ads1220", loadcell__sps=660, clock__pace="drdy")
    except ValueError as e:
        assert "multiple" in str(e)
    else:
        assert False


# ---- the motor ----

def test_motor_enable_dir_and_duty():
    b = board()
    m = b.motor
    assert Pin.level[12] == 0 and PWM.duty[10] == 0  # disabled from the start
    m.command(500)
    assert PWM.duty[10] == 0  # not enabled: no drive
    m.enable()
    assert Pin.level[12] == 1 and m.enabled()
    m.command(500)
    assert PWM.duty[10] == 32767 and Pin.level[11] == 1
    m.command(-2000)
    assert PWM.duty[10] == 65535 and Pin.level[11] == 0
    m.disable()
    assert Pin.level[12] == 0 and PWM.duty[10] == 0 and not m.enabled()


def test_current_sense_in_adc_counts():
    b = board()
    ADC.counts[26] = 2100
    assert b.motor.current() == 2100
    ADC.counts[26] = 4095
    assert b.motor.current() == 4095


def test_encoder_counts_from_its_zero_both_ways():
    StateMachine.encoder_count = 1000  # the count where the encoder was at boot
    try:
        b = board()
    finally:
        StateMachine.encoder_count = 0
    sm = StateMachine.sms[4]
    assert sm.in_base == 6
    assert b.motor.position() == 0
    sm.count = 1012
    assert b.motor.position() == 12
    sm.put_word(1005)  # older words still in the FIFO: dropped for the newest
    sm.count = 990
    assert b.motor.position() == -10
    sm.count = -7
    assert b.motor.position() == -1007


def test_encoder_reversed():
    b = board(motor__encoder={"a": 6, "b": 7, "reverse": True})
    StateMachine.sms[4].count = 25
    assert b.motor.position() == -25


def test_encoder_pins_must_be_adjacent():
    try:
        board(motor__encoder={"a": 6, "b": 9})
    except ValueError as e:
        assert "motor.encoder.b" in str(e)
    else:
        assert False


# ---- switches ----

def test_a_press_between_ticks_is_seen_once():
    b = board()
    sw = b.stop_switch
    assert not sw.pressed()
    Pin.drive(14, 1)
    Pin.drive(14, 0)  # pressed and released before the tick looks
    assert sw.pressed()
    assert not sw.pressed()
    Pin.drive(14, 1)
    assert sw.pressed() and sw.pressed()  # held: pressed while held


def test_limit_switch_and_jumper_latched_too():
    b = board()
    Pin.drive(15, 1)
    Pin.drive(15, 0)
    assert b.limit_switch.tripped() and not b.limit_switch.tripped()
    assert not b.service_jumper()
    Pin.drive(13, 0)  # fitted: pulls the pin low
    assert b.service_jumper()


def test_a_board_without_limit_switch():
    cfg = pico()
    del cfg["inputs"]["limit_switch"]
    wired()
    assert not hal.load(cfg).limit_switch.tripped()


# ---- clock and watchdog ----

def run_loop(b, late):
    """One loop: the tick feeds, the loop ends `late` periods after its start, then waits."""
    b.watchdog.feed()
    for _ in range(late):
        b.clock.mark()
    b.clock.wait_tick()


def test_watchdog_fed_only_for_loops_in_time():
    b = board()
    timer = w.Timer.last
    assert timer.hard and timer.freq == 100
    machine.on_idle = b.clock.mark  # idling: the timer's next period mark wakes the loop
    b.watchdog.start(1000)
    wdt = WDT.last
    assert wdt.timeout == 1000
    b.clock.wait_tick()  # the first period
    run_loop(b, 0)
    assert wdt.feeds == 1 and b.clock.overruns == 0
    run_loop(b, 1)  # ended after the next period began
    assert wdt.feeds == 1 and b.clock.overruns == 1
    run_loop(b, 3)
    assert wdt.feeds == 1 and b.clock.overruns == 2 and b.clock.missed == 2
    b.clock.wait_tick()  # a loop whose tick did not run (did not ask)
    assert wdt.feeds == 1
    run_loop(b, 0)
    assert wdt.feeds == 2


def test_watchdog_timeout_range():
    b = board()
    try:
        b.watchdog.start(9000)
    except ValueError as e:
        assert "8388" in str(e)
    else:
        assert False


def test_watchdog_stopped_for_the_repl():
    b = board()
    b.watchdog.start(500)
    b.watchdog.stop()
    assert machine.mem32[0x4005B000] == 1 << 30  # WATCHDOG_CTRL ENABLE cleared (atomic clear alias)


# ---- reset ----

def test_reset_cause():
    wired()
    assert hal.load(pico()).reset_cause() == 0  # power on
    machine.cause = machine.WDT_RESET
    assert hal.load(pico()).reset_cause() == 1  # the watchdog
    b = hal.load(pico())
    try:
        b.reset()
    except w.Reset:
        pass
    assert machine.mem32[rp2board.SCRATCH0] == rp2board.RESET_MARK
    assert hal.load(pico()).reset_cause() == 0  # asked for (a watchdog reboot on the RP2040)
    assert hal.load(pico()).reset_cause() == 1  # the mark is used once


# ---- the link ----

class Port:
    def __init__(self, room):
        self.room = room  # bytes the USB-CDC buffer takes now
        self.sent = bytearray()
        self.inbox = bytearray()

    def ipoll(self, timeout):
        return (1,) if self.inbox else ()

    def writable(self):
        return self.room > 0

    def readinto(self, buf):
        buf[0] = self.inbox[0]
        self.inbox = self.inbox[1:]
        return 1

    def write(self, buf, off, n):
        n = min(n, self.room)
        self.sent += buf[off:off + n]
        self.room -= n
        return n


def test_link_never_waits_and_never_cuts_a_frame():
    port = Port(5)
    link = UsbLink(16, port)
    link.write(b"abcdefgh")
    assert port.sent == b"abcde" and link.queued() == 3
    link.write(b"0123456789")
    assert link.queued() == 13
    link.write(b"XYZW")  # does not fit whole: dropped, not cut
    assert link.dropped == 4 and link.queued() == 13
    port.room = 100
    link.drain()  # wraps around the queue's end
    assert port.sent == b"abcdefgh0123456789" and link.queued() == 0
    link.write(b"!")
    assert port.sent.endswith(b"!")


def test_link_reads_only_what_is_asked_and_stops_at_a_frames_end_or_a_ctrl_c():
    port = Port(0)
    port.inbox += b"hello"
    link = UsbLink(16, port)
    buf = bytearray(3)
    assert link.read(buf) == 3 and buf == b"hel"
    assert port.inbox == b"lo"
    port.inbox = bytearray(b"ab\x00cd\r\x03\r\x01")  # a frame, the next one's start, a REPL break-in
    buf = bytearray(16)
    assert link.read(buf) == 3 and buf[:3] == b"ab\x00"
    assert link.read(buf) == 4 and buf[:4] == b"cd\r\x03"
    assert port.inbox == b"\r\x01"  # the REPL's: unread
    assert link.read(buf) == 2 and link.read(buf) == 0


# ---- the record spool on the flash ----

def test_the_spool_on_flash_programs_whole_pages_and_never_needs_a_bit_set():
    flash = w.Flash()
    sp = Spool(FlashRegion(flash))
    prev = "ab" * 32
    row = bytearray(range(80))
    for rid in (1, 2):  # the second session erases what the first wrote, and only that
        sp.start(rid, prev)
        for i in range(100):  # 8.4 KB: into a third sector
            row[0] = i
            assert sp.append(row)
        assert sp.found() == (rid, prev)
        got = list(sp.entries())
        assert len(got) == 100 and got[37][0] == 37 and got[37][1:] == bytes(row[1:])
        sp.clear()
        assert sp.found() is None
    assert flash.programmed_over == 0
    assert flash.erases == 4 + 3  # all of it before the first use, then the three sectors used


def test_a_row_goes_to_the_flash_without_allocating_or_erasing():
    flash = w.Flash()
    sp = Spool(FlashRegion(flash))
    sp.start(1, "00" * 32)
    erases = flash.erases
    row = bytearray(80)
    ok = True
    micropython.heap_lock()
    try:
        for _ in range(20):
            ok = sp.append(row) and ok
    finally:
        micropython.heap_unlock()
    assert ok and flash.erases == erases and len(list(sp.entries())) == 20


def test_the_board_spools_on_the_flash_the_image_sets_apart_and_only_there():
    class Layout:  # firmware/ports/rp2/flashstore.py, as the product image's _boot.py left it
        spool = w.Flash()

    cfg = pico()
    cfg["store"] = h.new_store()
    sys.modules["flashstore"] = Layout
    try:
        wired()
        assert hal.load(cfg).spool.size == 16 * 1024
        Layout.spool = None  # a board whose filesystem spans the whole flash: kept, without a spool
        wired()
        assert hal.load(cfg).spool is None
    finally:
        del sys.modules["flashstore"]
    wired()
    assert hal.load(cfg).spool is None  # not the product image
    h.remove_store(cfg["store"])


# ---- the application on it ----

def test_the_application_boots_and_ticks_without_allocating():
    from traction_fw.app import App

    wired()
    cfg = pico()
    cfg["store"] = h.new_store()
    b = hal.load(cfg)
    machine.on_idle = b.clock.mark
    a = App(b)
    assert a.cross.has_current  # current sense and encoder: the load cell's second channel
    b.link = UsbLink(256, Port(1000))
    hx = StateMachine.sms[0]
    ADC.counts[26] = 2048
    for i in range(50):
        hx.put_word(hx_word(1400 + (i & 3)))
        b.clock.mark()
        b.clock.wait_tick()
        micropython.heap_lock()
        try:
            a.tick()
        finally:
            micropython.heap_unlock()
    assert a.fault == 0, a.fault
    h.remove_store(cfg["store"])
