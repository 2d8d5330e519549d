# The hardware boundary. The application sees only a Board with the members below; hal/sim and
# hal/rp2 implement it. Everything is integers: no floats cross this boundary.
#
# board = traction_fw.hal.load(config)   config: dict from boards/<name>.json ("hal": "sim" | "rp2")
#
# board.kind            "real" or "sim" (reported in INFO, never branched on by the application)
# board.config          the board config dict
# board.control_hz      control and load-cell sample rate (int)
# board.period_us       control period in microseconds (int)
# board.time_scale      device seconds per wall second (1 on real hardware)
# board.store           path (str) of the board's file store root; records/ and settings.json live there
# board.spool           optional: a raw region of the store outside its filesystem, where the open record's
#                       lines wait during a treatment (spool.py): size, read(offset, n), write(offset, data),
#                       erase(n) (its first n bytes read 0xFF after); written as NOR flash allows, and it
#                       must outlive a reset. A board without one has each line appended to the record
#                       file as it is written.
#
# board.clock.ticks_ms() / ticks_us()  monotonic device time; wraps like time.ticks_*: compare only
#                                      with time.ticks_diff / ticks_add
# board.clock.wait_tick()              block until the next control period starts (the sim advances its
#                                      plant here; it may allocate; it is never called inside app.tick)
# board.clock.overruns                control loops that ended after the next period had begun (int,
#                                      counted by the hal; STATUS reports it)
#
# board.loadcell.ready()   True when a sample arrived since the last read()
# board.loadcell.read()    raw signed counts of the last sample (int)
# board.loadcell.rails()   (min_counts, max_counts) the ADC can report; a reading at a rail is saturated
# board.loadcell.sps       the ADC's own conversion rate, per second (int); it may be above control_hz
# board.loadcell.samples   every conversion, in order, in a preallocated hal.samples.SampleRing that the
#                          hal fills as conversions arrive (rp2: the ADS1220's DRDY IRQ, or each HX711
#                          word the tick's read() takes; sim: each conversion its plant step makes):
#     .pending()           conversions waiting since the last drain
#     .drain(buf)          copy the oldest waiting ones (raw signed counts) into the preallocated
#                          array("i") buf, up to len(buf); returns how many. Allocation-free; for service()
#     .taken               running number (conversions since boot, modulo 2**30) of the conversion after the
#                          last one drained: the first of a drain of count is (taken - count) & WRAP_MASK.
#                          The ring keeps at least a quarter second; older conversions are overwritten and
#                          lost, which the running numbers show as a gap
#
# board.motor.enable() / disable() / enabled()
# board.motor.command(speed)   speed: int per-mille of full speed, -1000..1000; positive winds in (pulls)
# board.motor.position()       encoder counts (int), or None on a board without an encoder
# board.motor.current()        the driver's current sense: raw ADC counts (int), or None on a board
#                              without one. The board config's "current_sense" says how counts map to
#                              line force (dn_per_count, zero_counts, rails). A board needs at least one
#                              of current() and position(): the load cell's second channel (crosscheck.py)
#
# board.stop_switch.pressed()  True while the patient's stop switch is pressed
# board.limit_switch.tripped() True while the force-limit switch in the line is open (it cuts the driver's
#                              enable in hardware); always False on a board without one
# board.service_jumper()       True while the physical service jumper is fitted
#
# board.watchdog.start(timeout_ms) / feed()   feed() in the tick; a board may feed its hardware watchdog
#                                             later, only when that loop ended in time (hal/rp2)
# board.watchdog.stop()                       the loop hands the port to the REPL (motor off)
#
# board.link.read(buf)   non-blocking: read up to len(buf) bytes into the preallocated bytearray buf,
#                        return how many (0 if none), ending early after a 0 (a frame's end) or a 3 (a
#                        Ctrl-C, which may be a REPL break-in): what follows stays in the port, so bytes
#                        meant for the REPL stay unread once the application stops reading.
# board.link.write(data) queue bytes for the host (never blocks the tick for long)
# board.link.room()      bytes the link takes now without dropping them or waiting for the host; what can
#                        wait (SAMPLES) is sent only when there is room to spare
#
# board.service()        housekeeping outside the tick (the sim's side channel); may allocate
# board.reset()          hard reset (the sim exits its process with code 3; its launcher restarts it)
# board.reset_cause()    0 power-on or requested reset, 1 watchdog or unexpected reset


FRAME_END = 0  # link.read() ends after either byte (above)
CTRL_C = 3

def load(config):
    name = config.get("hal", "sim")
    if name == "sim":
        from .sim import board
    elif name == "rp2":
        from .rp2 import board
    else:
        raise ValueError("unknown hal " + name)
    return board.Board(config)
