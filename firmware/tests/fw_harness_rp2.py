# The rp2 board (hal/rp2) under test: stand-ins for MicroPython's rp2-port `machine` and `rp2` modules,
# so hal/rp2's CPU side (what it writes to the pins, how it reads FIFOs and IRQ-latched state) runs under
# the unix port's tests. install() puts them in sys.modules before traction_fw.hal.rp2 is imported. What
# the PIO programs do on the pins is not modelled here: each test drives the pins and FIFOs by hand.
import sys


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8
    level = {}  # GPIO -> level, shared by every Pin object on that GPIO
    mode = {}
    handler = {}  # GPIO -> (handler, trigger, hard)

    def __init__(self, gpio, mode=-1, pull=None, *, value=None):
        self.gpio = gpio
        if mode != -1:
            Pin.mode[gpio] = mode
        if value is not None:
            Pin.level[gpio] = value
        elif gpio not in Pin.level:
            Pin.level[gpio] = 1 if pull == Pin.PULL_UP else 0

    def value(self, v=None):
        if v is None:
            return Pin.level[self.gpio]
        Pin.level[self.gpio] = v

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler, trigger, hard=False):
        Pin.handler[self.gpio] = (handler, trigger, hard)

    @staticmethod
    def drive(gpio, v):
        """The outside world sets a pin: its IRQ handler runs on the matching edge."""
        old = Pin.level.get(gpio, 0)
        Pin.level[gpio] = v
        h = Pin.handler.get(gpio)
        if h and old != v and h[1] & (Pin.IRQ_RISING if v else Pin.IRQ_FALLING):
            h[0](Pin(gpio))


class PWM:
    duty = {}
    freq = {}

    def __init__(self, pin, freq=0, duty_u16=0):
        self.gpio = pin.gpio
        PWM.freq[self.gpio] = freq
        PWM.duty[self.gpio] = duty_u16

    def duty_u16(self, v):
        PWM.duty[self.gpio] = v


class ADC:
    counts = {}  # GPIO -> 12-bit counts

    def __init__(self, pin):
        self.gpio = pin.gpio

    def read_u16(self):
        c = ADC.counts.get(self.gpio, 0)
        return c << 4 | c >> 8  # how the rp2 port scales 12 bits to 16


class Timer:
    PERIODIC = 1
    last = None

    def __init__(self, timer_id=-1):
        self.freq = 0
        self.callback = None
        self.hard = False
        Timer.last = self

    def init(self, mode=1, freq=0, callback=None, hard=False):
        self.freq = freq
        self.callback = callback
        self.hard = hard


class WDT:
    last = None

    def __init__(self, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        WDT.last = self

    def feed(self):
        self.feeds += 1


class Mem32:
    def __init__(self):
        self.words = {}

    def __getitem__(self, addr):
        return self.words.get(addr, 0)

    def __setitem__(self, addr, v):
        self.words[addr] = v


class Reset(Exception):
    pass


class SPI:
    """An ADS1220 on the bus: keeps what WREG writes, answers RREG with it, and gives `sample` (three
    bytes) to a plain read."""

    last = None

    def __init__(self, bus, baudrate=0, polarity=0, phase=0, sck=None, mosi=None, miso=None):
        self.bus = bus
        self.mode = (polarity, phase)
        self.regs = bytearray(4)
        self.commands = []
        self.sample = bytearray(3)
        self.mute = False  # no chip: reads give 0xff
        SPI.last = self

    def write(self, data):
        self.commands.append(bytes(data))
        if data[0] & 0xF0 == 0x40:
            n = (data[0] & 3) + 1
            self.regs[:n] = data[1:1 + n]

    def write_readinto(self, out, into):
        self.commands.append(bytes(out))
        into[0] = 0xFF
        for i in range(1, len(into)):
            into[i] = 0xFF if self.mute else self.regs[i - 1]

    def readinto(self, buf):
        for i in range(len(buf)):
            buf[i] = self.sample[i]


class Machine:
    """The `machine` module."""

    Pin = Pin
    PWM = PWM
    ADC = ADC
    Timer = Timer
    WDT = WDT
    SPI = SPI
    PWRON_RESET = 1
    WDT_RESET = 3

    def __init__(self):
        self.mem32 = Mem32()
        self.cause = 1
        self.on_idle = None

    def reset_cause(self):
        return self.cause

    def reset(self):
        raise Reset()

    def disable_irq(self):
        return 0

    def enable_irq(self, state):
        pass

    def idle(self):
        self.on_idle()


class StateMachine:
    sms = {}
    encoder_count = 0  # the encoder program's X at start

    def __init__(self, sm_id, prog, freq=-1, in_base=None, sideset_base=None):
        self.prog = prog
        self.freq = freq
        self.in_base = in_base.gpio if in_base else None
        self.sideset_base = sideset_base.gpio if sideset_base else None
        self.fifo = []
        self.count = None  # a program that pushes every pass (the encoder's X, signed): what get() finds
        self.running = 0
        StateMachine.sms[sm_id] = self
        if sm_id == 4:
            self.count = StateMachine.encoder_count

    def active(self, on):
        self.running = on

    def rx_fifo(self):
        return len(self.fifo)

    def put_word(self, word):
        """The program pushes a 32-bit word (kept as the signed value an 'i' array reads)."""
        if len(self.fifo) < 4:
            self.fifo.append(signed32(word))

    def get(self, buf):
        # no arithmetic here: on a 32-bit port a word's conversion would allocate in the heap-locked tick
        if self.fifo:
            buf[0] = self.fifo.pop(0)
        elif self.count is not None:
            buf[0] = self.count  # the encoder's X, signed
        else:
            raise AssertionError("get() on an empty FIFO would wait forever")


def signed32(word):
    word &= 0xFFFFFFFF
    return word - 0x100000000 if word & 0x80000000 else word


class PIO:
    OUT_LOW = 0
    SHIFT_LEFT = 0


# One flash for every Flash, made when this module is imported: on the emulated board's heap (140 KB,
# fragmented by the tests before) 16 KB in one piece may no longer be found later in a test module.
_FLASH = bytearray(16 * 1024)
_ERASED = b"\xff" * 4096


class Flash:
    """rp2.Flash over a run of the flash storage, as the rp2 port and the chip behave: 4 KB blocks;
    writeblocks(block, buf, offset) programs whole 256-byte pages (the pico-sdk's rule), and programming
    only clears bits: a byte keeps the AND of what it held and what is programmed, so 0xFF leaves it as
    it was. `programmed_over` counts the bytes programmed with a value (not 0xFF) that needed a bit set,
    which a spool must never do; ioctl(6, block) erases a block."""

    SECTOR = 4096

    def __init__(self):
        self.mem = _FLASH  # a board's is 64 KB; 16 fit the emulated board's heap
        for i in range(len(self.mem)):  # as a board leaves it: not erased
            self.mem[i] = 0
        self.programs = 0
        self.erases = 0
        self.programmed_over = 0

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.mem) // self.SECTOR
        if op == 6:
            at = arg * self.SECTOR
            self.mem[at:at + self.SECTOR] = _ERASED
            self.erases += 1
            return 0
        return None

    def readblocks(self, block, buf, offset=0):
        at = block * self.SECTOR + offset
        buf[:] = self.mem[at:at + len(buf)]

    def writeblocks(self, block, buf, offset):
        at = block * self.SECTOR + offset
        assert at % 256 == 0 and len(buf) % 256 == 0, "flash is programmed in whole pages"
        for i in range(len(buf)):
            old = self.mem[at + i]
            if buf[i] != 0xFF and old & buf[i] != buf[i]:
                self.programmed_over += 1
            self.mem[at + i] = old & buf[i]
        self.programs += 1


class Rp2:
    """The `rp2` module: asm_pio leaves the program function unassembled."""

    PIO = PIO
    StateMachine = StateMachine
    Flash = Flash

    @staticmethod
    def asm_pio(**_kw):
        return lambda f: f


machine = Machine()
rp2 = Rp2()


def install():
    sys.modules["machine"] = machine
    sys.modules["rp2"] = rp2


def reset_world():
    Pin.level.clear()
    Pin.mode.clear()
    Pin.handler.clear()
    PWM.duty.clear()
    ADC.counts.clear()
    StateMachine.sms.clear()
    machine.mem32 = Mem32()
    machine.cause = 1
