// The emulated Pico: a UF2 on rp2040js, with the traction unit's peripherals around it.
//
//   node harness.mjs --uf2 IMAGE --bootrom ROM.ts --tty PTY --wiring JSON [--flash FILE] [--stats FILE]
//                    [--stretches FILE]
//
// The USB-CDC port is bridged to PTY (the board side of the launcher's pty relay). The plant is not here:
// tools/rp2040/plant.py (started by host_sdk/traction/emulated_pico.py) runs the one plant model, hal/sim's,
// and exchanges the pins with this process every plant period of emulated time, in lock step, one JSON
// line each way on stdin/stdout:
//   out {"t_us": T, "enable": 0|1, "dir": 0|1, "duty": 0..1}                        the driver's inputs
//   in  {"load": COUNTS, "load_ready": bool, "encoder": COUNTS, "current": COUNTS,
//        "pins": {GPIO: 0|1, ...}}                                                  the plant's outputs
// (load: the load cell's counts, which the HX711 or the ADS1220, whichever --wiring names, converts).
// The emulation waits for each answer, so the plant sees the firmware's time, whatever the host's speed.
// A line {"reset": true} in is the reset button (the plant's injected reset): as the watchdog, below.
// Around rp2040js (docs/firmware.md, "The emulated Pico"):
// - flash: the boot ROM's flash functions are trapped (BKPT) and done here on the emulated flash array,
//   so MicroPython's LittleFS on flash works as on the product board; --flash loads a saved flash first;
// - PIO: rp2040js runs its state machines from a host timer, out of step with the CPU; here each
//   state machine steps at its own clock divider in emulated time (no faster than MAX_PIO_HZ);
// - the watchdog (machine.reset() is a watchdog reboot) saves the flash to --flash and exits with
//   EXIT_RESET: the launcher starts the board again on the same flash, as a reboot keeps it.
import fs from 'fs';
import tty from 'tty';
import { RP2040, USBCDC, GPIOPinState } from 'rp2040js';

const EXIT_RESET = 3;
const CYCLE_NS = 8; // 125 MHz
const MAX_PIO_HZ = 1_000_000; // the HX711's program runs at 1 MHz; the encoder's loop needs no more
const MIN_PIO_NS = 1e9 / MAX_PIO_HZ;
const PIO_ENABLE_CHECK_NS = 10_000;
const PLANT_NS = 10_000_000; // one plant step: the sim's control period
const ENCODER_MIN_STEP_NS = 20_000; // steps no closer (full speed: 125 us apart; the PIO loop takes 7 us)
const HX711_PERIOD_NS = { 1: 12_500_000, 0: 100_000_000 }; // RATE high: 80 SPS, low: 10 SPS
const HX711_POWERDOWN_NS = 60_000;
const QUADRATURE = [0, 1, 3, 2]; // (B << 1) | A for position & 3: A leads when winding in
const FLASH_SIZE = 2 * 1024 * 1024; // the Pico's W25Q16
// How long the W25Q16JV takes (its datasheet's typical figures): the CPU waits in the boot ROM meanwhile,
// with interrupts off (MicroPython's rp2 port writes flash in a critical section).
const SECTOR_ERASE_NS = 45_000_000; // 4 KB
const BLOCK_ERASE_NS = 150_000_000; // 64 KB, which the ROM uses for an aligned 64 KB run
const PAGE_PROGRAM_NS = 400_000; // 256 B
// a busy stretch as long as the control period is logged (--stretches); HARNESS_STRETCH_MS sets another length
const LONG_STRETCH_NS = (Number(process.env.HARNESS_STRETCH_MS) || 10) * 1e6;
const STRETCH_PCS = 4000; // the most sampled PCs kept per logged stretch

// What the peripherals around the CPU did, for the stretch log: bytes erased and programmed through the
// trapped flash functions and the time the chip took, bytes the host sent (USB OUT) and the device sent
// (USB IN).
const events = { erased: 0, programmed: 0, flash_ns: 0, usb_in: 0, usb_out: 0 };

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    args[argv[i].replace(/^--/, '')] = argv[i + 1];
  }
  for (const need of ['uf2', 'bootrom', 'tty', 'wiring']) {
    if (!args[need]) {
      throw new Error(`harness: --${need} is required`);
    }
  }
  return args;
}

function loadBootrom(path) {
  // rp2040js's demo/bootrom.ts: a TypeScript array of 32-bit words (see ../shared/vendor/README.md)
  const text = fs.readFileSync(path, 'utf8');
  const body = text.slice(text.indexOf('['), text.lastIndexOf(']'));
  const words = body.match(/0x[0-9a-fA-F]+/g).map((w) => parseInt(w, 16));
  return new Uint32Array(words);
}

function loadUF2(path, mcu) {
  const data = fs.readFileSync(path);
  for (let at = 0; at + 512 <= data.length; at += 512) {
    const block = data.subarray(at, at + 512);
    if (block.readUInt32LE(0) !== 0x0a324655 || block.readUInt32LE(4) !== 0x9e5d5157) {
      throw new Error(`${path}: block ${at / 512} is not a UF2 block`);
    }
    const address = block.readUInt32LE(12);
    const size = block.readUInt32LE(16);
    mcu.flash.set(block.subarray(32, 32 + size), address - 0x10000000);
  }
}

// ---- flash: the boot ROM's flash functions, done on the flash array, taking the chip's time ----
function eraseNs(addr, count) {
  let ns = 0;
  for (let at = addr; at < addr + count;) {
    const block = at % 65536 === 0 && addr + count - at >= 65536;
    ns += block ? BLOCK_ERASE_NS : SECTOR_ERASE_NS;
    at += block ? 65536 : 4096;
  }
  return ns;
}

const ROM_FLASH = {
  IF: 'connect_internal_flash',
  EX: 'flash_exit_xip',
  RE: 'flash_range_erase',
  RP: 'flash_range_program',
  FC: 'flash_flush_cache',
  CX: 'flash_enter_cmd_xip',
};

function trapFlashFunctions(mcu, bootrom) {
  const half = (addr) => (bootrom[addr >> 2] >>> ((addr & 2) * 8)) & 0xffff;
  const traps = [];
  for (let at = half(0x14); half(at) !== 0; at += 4) {
    const code = String.fromCharCode(half(at) & 0xff, half(at) >> 8);
    if (code in ROM_FLASH) {
      const addr = half(at + 2) & ~1;
      const shift = (addr & 2) * 8;
      bootrom[addr >> 2] = (bootrom[addr >> 2] & ~(0xffff << shift)) | ((0xbe00 | traps.length) << shift);
      traps.push(code);
    }
  }
  if (traps.length !== Object.keys(ROM_FLASH).length) {
    throw new Error(`boot ROM: found ${traps} of the flash functions ${Object.keys(ROM_FLASH)}`);
  }
  mcu.loadBootrom(bootrom);
  mcu.onBreak = (n) => {
    const core = mcu.core;
    const r = core.registers;
    if (traps[n] === 'RE') {
      mcu.flash.fill(0xff, r[0], r[0] + r[1]);
      events.erased += r[1];
      const ns = eraseNs(r[0], r[1]);
      events.flash_ns += ns;
      mcu.clock.tick(ns);
    } else if (traps[n] === 'RP') {
      for (let i = 0; i < r[2]; i++) {
        mcu.flash[r[0] + i] &= mcu.readUint8(r[1] + i); // programming only clears bits
      }
      events.programmed += r[2];
      const ns = Math.ceil(r[2] / 256) * PAGE_PROGRAM_NS;
      events.flash_ns += ns;
      mcu.clock.tick(ns);
    } else if (traps[n] === undefined) {
      throw new Error(`breakpoint ${n} at 0x${(core.PC - 2).toString(16)}`);
    }
    core.PC = core.LR & ~1; // return from the trapped function
  };
}

// ---- the PIO in step with the CPU ----
function pioStepper(mcu) {
  for (const pio of mcu.pio) {
    pio.run = () => {}; // no host timer: stepped below
  }
  const machines = mcu.pio.flatMap((pio) => pio.machines.map((sm) => ({ pio, sm, next: -1 })));
  let due = 0;
  const state = { now: 0 }; // the time of the step being run, for pin listeners
  function step(now) {
    if (now < due) {
      return;
    }
    due = Infinity;
    for (const m of machines) {
      if (!m.sm.enabled) {
        m.next = -1;
        due = Math.min(due, now + PIO_ENABLE_CHECK_NS); // an enable is a register write: look again soon
        continue;
      }
      if (m.next < 0) {
        m.next = now;
      }
      const div = m.sm.clockDivInt + m.sm.clockDivFrac / 256 || 65536;
      while (m.next <= now) {
        state.now = m.next;
        const before = m.sm.cycles;
        m.sm.step();
        m.pio.checkChangedPins();
        const cycles = Math.max(1, m.sm.cycles - before);
        m.next += Math.max(cycles * div * CYCLE_NS, MIN_PIO_NS);
      }
      due = Math.min(due, m.next);
    }
  }
  return { step, state, due: () => due };
}

// ---- the HX711: conversions on its own clock, bits out on PD_SCK ----
class HX711 {
  constructor(mcu, pins, pioState) {
    this.dout = mcu.gpio[pins.dout];
    this.rate = pins.rate === undefined ? null : mcu.gpio[pins.rate];
    this.pio = pioState;
    this.value = 0;
    this.ready = true; // false: the chip gives no conversion (DOUT stays high)
    this.shifting = -1; // bits clocked out of the current conversion, -1: none waiting
    this.word = 0;
    this.high = false;
    this.highSince = 0;
    this.powerdowns = 0;
    this.nextConversion = 0;
    this.dout.setInputValue(true);
    mcu.gpio[pins.pd_sck].addListener((s) => this.clock(s === GPIOPinState.High));
  }

  period() {
    return HX711_PERIOD_NS[this.rate && !this.rate.outputValue ? 0 : 1];
  }

  tick(now) {
    while (now >= this.nextConversion) {
      this.nextConversion += this.period();
      if (this.ready && this.shifting <= 0) {
        this.word = this.value & 0xffffff;
        this.shifting = 0;
        this.dout.setInputValue(false); // data ready
      }
    }
  }

  clock(high) {
    const now = this.pio.now;
    if (high === this.high) {
      return; // not an edge (the pin changed from input to output)
    }
    this.high = high;
    if (high) {
      this.highSince = now;
      if (this.shifting >= 0 && this.shifting < 24) {
        this.dout.setInputValue(!!((this.word >> (23 - this.shifting)) & 1));
        this.shifting++;
      } else if (this.shifting === 24) {
        this.dout.setInputValue(true); // the 25th pulse: gain 128 next; DOUT high until the next one
        this.shifting = -1;
      }
    } else if (now - this.highSince > HX711_POWERDOWN_NS) {
      this.powerdowns++; // the chip powered down: the conversion in progress is lost
      this.shifting = -1;
      this.dout.setInputValue(true);
    }
  }
}

// ---- the ADS1220: its commands and registers on SPI (mode 1), conversions at its data rate, DRDY ----
// Datasheet (SBAS501): RESET 0000 011x, START/SYNC 0000 100x, POWERDOWN 0000 001x, RDATA 0001 xxxx,
// RREG 0010 rrnn and WREG 0100 rrnn (nn + 1 registers from register rr). DRDY falls when a conversion is
// ready; its 24 bits (two's complement, MSB first) shift out on the next SCLKs with CS low (read directly,
// or after RDATA), and DRDY rises on the first of them; a conversion not read pulses DRDY high just before
// the next one falls. The counts are the plant's load cell's, at gain 128 (other gains scale them), the
// same the HX711 gets. After RESET, commands are ignored for 50 us + 32 clocks. Not modelled: the digital
// filter's settling (the first conversion after START comes one period later, as the next ones), SPI
// timing (a byte moves the moment it is written), the reference and input multiplexer settings (the
// bridge is read whatever they say), temperature sensor, IDACs.
const ADS1220_SPS = [ // by MODE (normal, duty-cycle, turbo), then DR (7 is reserved)
  [20, 45, 90, 175, 330, 600, 1000],
  [5, 11.25, 22.5, 44, 82.5, 150, 250],
  [40, 90, 180, 350, 660, 1200, 2000],
];
const ADS1220_RAILS = [-0x800000, 0x7fffff];
const ADS1220_RESET_NS = 50_000 + 32 * 244; // after RESET it takes no command for 50 us + 32 clocks (4.096 MHz)
const FUNCTION_SPI = 1;
const SSP_SPO = 1 << 6; // SSPCR0: clock polarity
const SSP_SPH = 1 << 7; // SSPCR0: clock phase
const SSP_MS = 1 << 2; // SSPCR1: slave mode

class ADS1220 {
  constructor(mcu, pins) {
    this.mcu = mcu;
    this.spi = mcu.spi[pins.spi ?? 0];
    this.bus = [pins.sck, pins.mosi, pins.miso].map((p) => mcu.gpio[p]);
    this.cs = mcu.gpio[pins.cs];
    this.drdy = mcu.gpio[pins.drdy];
    this.value = 0; // the plant's counts, at gain 128
    this.ready = true; // false: no conversion completes (DRDY stays high)
    this.conversions = 0;
    this.reads = 0; // conversions shifted out
    this.reset();
    if (pins.absent) {
      return; // not fitted: DRDY pulled up, and rp2040js's SPI reads 0 with nothing on the bus
    }
    this.spi.onTransmit = (byte) => this.spi.completeTransmit(this.transfer(byte));
    this.cs.addListener(() => {
      if (this.cs.outputValue) this.endFrame(); // CS high resets the serial interface
    });
  }

  reset(now = 0) {
    this.busyUntil = now + ADS1220_RESET_NS;
    this.regs = [0, 0, 0, 0];
    this.nextConversion = Infinity; // single-shot mode, not started
    this.word = 0;
    this.fresh = false; // a conversion not yet read: DRDY low
    this.endFrame();
    this.setDrdy(false);
  }

  endFrame() {
    this.frame = null; // the bytes still to shift out in this CS-low frame (null: none started)
    this.wreg = null; // a WREG waiting for its data bytes
  }

  setDrdy(low) {
    this.fresh = low;
    this.drdy.setInputValue(!low);
  }

  periodNs() {
    const sps = ADS1220_SPS[(this.regs[1] >> 3) & 3]?.[this.regs[1] >> 5];
    return sps ? 1e9 / sps : Infinity;
  }

  start(now) {
    this.nextConversion = now + this.periodNs();
  }

  tick(now) {
    while (now >= this.nextConversion) {
      const continuous = this.regs[1] & 0x04;
      this.nextConversion = continuous ? this.nextConversion + this.periodNs() : Infinity;
      if (!this.ready) continue;
      const gain = 1 << ((this.regs[0] >> 1) & 7);
      const counts = Math.round(this.value * gain / 128);
      this.word = Math.min(Math.max(counts, ADS1220_RAILS[0]), ADS1220_RAILS[1]) & 0xffffff;
      this.conversions++;
      if (this.fresh) this.drdy.setInputValue(true); // not read: DRDY pulses high before it falls again
      this.setDrdy(true);
      if (!this.wreg && !this.frame?.length) this.frame = null; // the next SCLKs shift it out (CS tied low)
    }
  }

  dataBytes() {
    return [this.word >> 16, (this.word >> 8) & 0xff, this.word & 0xff];
  }

  wired() {
    // The chip hears the SPI peripheral only as a master in mode 1 (SSPCR0: SPO 0, SPH 1; SSPCR1: MS 0)
    // with 8-bit frames, its pins muxed to it. (rp2040js's own masterMode and spiMode getters misread
    // those bits, so they are read here.)
    const spi = this.spi;
    return spi.enabled && !(spi.control1 & SSP_MS) && (spi.control0 & (SSP_SPO | SSP_SPH)) === SSP_SPH
      && spi.dataBits === 8
      && this.bus.every((pin) => pin.functionSelect === FUNCTION_SPI)
      && this.cs.outputEnable && !this.cs.outputValue;
  }

  transfer(byte) {
    if (!this.wired()) {
      return 0xff; // DOUT is high impedance: the pull-up
    }
    if (this.mcu.clock.nanos < this.busyUntil) {
      return 0xff; // still resetting: the byte is not heard
    }
    if (this.frame === null) {
      // the first SCLKs after CS falls shift out a conversion not yet read; DRDY rises on them
      this.frame = this.fresh ? this.dataBytes() : [];
      if (this.fresh) {
        this.reads++;
        this.setDrdy(false);
      }
    }
    const out = this.frame.length ? this.frame.shift() : 0;
    if (this.wreg) {
      this.regs[this.wreg.at++] = byte;
      if (this.wreg.at > this.wreg.last) {
        this.wreg = null;
        if (this.nextConversion !== Infinity) this.start(this.mcu.clock.nanos); // a write restarts it
      }
    } else {
      this.command(byte);
    }
    return out;
  }

  command(byte) {
    const now = this.mcu.clock.nanos;
    const at = (byte >> 2) & 3;
    const last = Math.min(3, at + (byte & 3));
    if ((byte & 0xfe) === 0x06) {
      this.reset(now);
    } else if ((byte & 0xfe) === 0x08) {
      this.start(now);
    } else if ((byte & 0xfe) === 0x02) {
      this.nextConversion = Infinity; // POWERDOWN
    } else if ((byte & 0xf0) === 0x10) {
      this.frame = this.dataBytes(); // RDATA
      this.reads++;
      this.setDrdy(false);
    } else if ((byte & 0xf0) === 0x20) {
      this.frame = this.regs.slice(at, last + 1); // RREG
    } else if ((byte & 0xf0) === 0x40) {
      this.wreg = { at, last }; // WREG
    }
  }
}

// ---- the quadrature encoder: steps toward the plant's count ----
class Encoder {
  constructor(mcu, pins) {
    this.a = mcu.gpio[pins.a];
    this.b = mcu.gpio[pins.b];
    this.position = 0;
    this.target = 0;
    this.nextStep = 0;
    this.show();
  }

  show() {
    const s = QUADRATURE[this.position & 3];
    this.a.setInputValue(!!(s & 1));
    this.b.setInputValue(!!(s & 2));
  }

  moveTo(target, now, end) {
    // The plant says where the drum is at the end of its step (emulated time `end`): the steps to get
    // there are spread evenly up to then, as a turning encoder gives them (bunched steps would read as a
    // runaway). Steps already due (plant steps taken late, after a flash operation held the clock) come
    // as fast as the PIO follows: on a board it counts them while the CPU waits.
    this.target = target;
    const steps = Math.abs(target - this.position);
    this.interval = steps ? Math.max(ENCODER_MIN_STEP_NS, Math.floor((end - now) / steps)) : 0;
    this.nextStep = now + this.interval;
  }

  tick(now) {
    if (this.position !== this.target && now >= this.nextStep) {
      this.position += this.target > this.position ? 1 : -1;
      this.show();
      this.nextStep += this.interval;
    }
  }

  due() {
    return this.position === this.target ? Infinity : this.nextStep;
  }
}

// ---- how busy the CPU is: what the firmware leaves of each period (benchmarks/rp2040_timing.py) ----
// Busy is every nanosecond the core is not asleep in WFE/WFI: the loop, its interrupts, USB. Per plant
// window (10 ms, not aligned with the firmware's period marks) and per stretch (from a wake-up to the next
// sleep: a loop's whole work when no interrupt splits it). One JSON line per emulated second to --stats.
// Each stretch of LONG_STRETCH_NS or more, one JSON line to --stretches: when, how long, what the flash and
// USB did during it, and the program counters sampled in it (one per batch of up to 1000 instructions),
// for benchmarks/rp2040_timing.py to name with the image's symbols.
class CpuLoad {
  constructor(path, stretchPath) {
    this.path = path;
    this.stretchPath = stretchPath;
    this.pcs = new Map();
    this.eventsAtWake = { ...events };
    this.sleeping = false;
    this.wokeAt = 0;
    this.windowStart = 0;
    this.windowSleep = 0;
    this.second = { t_s: 1, busy_ns: 0, window_max_ns: 0, stretch_max_ns: 0 };
  }

  asleep(now, dt) {
    if (!this.sleeping) {
      this.sleeping = true;
      const stretch = now - this.wokeAt;
      this.second.stretch_max_ns = Math.max(this.second.stretch_max_ns, stretch);
      if (this.stretchPath && stretch >= LONG_STRETCH_NS) this.logStretch(stretch);
    }
    this.windowSleep += dt;
  }

  awake(now, pc) {
    if (this.sleeping) {
      this.sleeping = false;
      this.wokeAt = now;
      this.pcs.clear();
      this.eventsAtWake = { ...events };
    }
    if (this.stretchPath) this.pcs.set(pc, (this.pcs.get(pc) || 0) + 1);
  }

  logStretch(stretch) {
    const line = { t_ms: this.wokeAt / 1e6, ms: stretch / 1e6 };
    for (const [k, v] of Object.entries(events)) line[k] = v - this.eventsAtWake[k];
    line.samples = [...this.pcs.values()].reduce((a, b) => a + b, 0);
    line.pcs = [...this.pcs.entries()].sort((a, b) => b[1] - a[1]).slice(0, STRETCH_PCS);
    fs.appendFileSync(this.stretchPath, JSON.stringify(line) + '\n');
  }

  window(now) {
    const busy = Math.max(0, now - this.windowStart - this.windowSleep);
    this.second.busy_ns += busy;
    this.second.window_max_ns = Math.max(this.second.window_max_ns, busy);
    this.windowStart = now;
    this.windowSleep = 0;
    if (now >= this.second.t_s * 1e9) {
      if (this.path) fs.appendFileSync(this.path, JSON.stringify(this.second) + '\n');
      this.second = { t_s: this.second.t_s + 1, busy_ns: 0, window_max_ns: 0, stretch_max_ns: 0 };
    }
  }
}

function pwmDuty(mcu, gpio) {
  // duty of the PWM slice channel on this GPIO (slice = (gpio >> 1) & 7, channel A on even pins)
  const slice = (gpio >> 1) & 7;
  const base = 0x40050000 + slice * 0x14;
  if (!(mcu.readUint32(base) & 1)) {
    return 0; // slice disabled
  }
  const cc = mcu.readUint32(base + 0x0c);
  const level = gpio & 1 ? cc >>> 16 : cc & 0xffff;
  const top = mcu.readUint32(base + 0x10) & 0xffff;
  return Math.min(1, level / (top + 1));
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const wiring = JSON.parse(args.wiring);
  const mcu = new RP2040();
  mcu.logger = { debug() {}, info() {}, warn() {}, error: (c, m) => process.stderr.write(`${c}: ${m}\n`) };
  trapFlashFunctions(mcu, loadBootrom(args.bootrom));
  if (args.flash && fs.existsSync(args.flash)) {
    mcu.flash.set(fs.readFileSync(args.flash).subarray(0, FLASH_SIZE));
  }
  loadUF2(args.uf2, mcu);
  const saveFlash = (path) => fs.writeFileSync(path, mcu.flash.subarray(0, FLASH_SIZE));

  const pio = pioStepper(mcu);
  // the load cell's ADC, the one the board has
  const adc = wiring.ads1220 ? new ADS1220(mcu, wiring.ads1220) : new HX711(mcu, wiring.hx711, pio.state);
  const adcProgress = () => (wiring.ads1220 ? `ADS1220 ${adc.conversions} conversions, ${adc.reads} read`
    : `HX711 power-downs ${adc.powerdowns}`);
  const encoder = new Encoder(mcu, wiring.encoder);
  const pwm = wiring.pwm;
  let nextPlant = 0;
  let waitingForPlant = false;
  let stopped = false;

  // USB-CDC <-> the pty
  const fd = fs.openSync(args.tty, 'r+');
  const port = new tty.ReadStream(fd);
  const toDevice = [];
  const cdc = new USBCDC(mcu.usbCtrl);
  cdc.onSerialData = (data) => {
    events.usb_in += data.length;
    try {
      fs.writeSync(fd, data);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e; // nobody reads the port: the bytes go, as on a real one
    }
  };
  // rp2040js's host side answers the device's OUT transfer at once, with no bytes when it has none: the
  // device takes an interrupt, arms it again, and never sleeps (a storm of empty transfers). A USB host
  // sends only when it has data: the transfer waits here until the pty brings some.
  let pendingRead = null;
  const answerRead = cdc.usb.onEndpointRead;
  cdc.usb.onEndpointRead = (endpoint, size) => {
    if (endpoint === cdc.outEndpoint && cdc.txFIFO.empty) {
      pendingRead = [endpoint, size];
    } else {
      answerRead(endpoint, size);
    }
  };
  function feedDevice() {
    while (toDevice.length && !cdc.txFIFO.full) cdc.sendSerialByte(toDevice.shift());
    if (pendingRead && !cdc.txFIFO.empty) {
      const [endpoint, size] = pendingRead;
      pendingRead = null;
      answerRead(endpoint, size);
    }
  }
  port.on('data', (chunk) => {
    for (const b of chunk) toDevice.push(b);
    events.usb_out += chunk.length;
    resume();
  });

  // A reboot keeps the flash: saved for the launcher, which starts the board again on it.
  function reboot() {
    stopped = true;
    if (args.flash) saveFlash(args.flash);
    process.exit(EXIT_RESET);
  }
  mcu.findPeripheral(0x40058000).onWatchdogTrigger = reboot;
  const profile = process.env.HARNESS_PROFILE ? new Map() : null; // PCs sampled when awake (HARNESS_PROFILE)
  process.on('SIGTERM', () => {
    if (profile) {
      const top = [...profile.entries()].sort((a, b) => b[1] - a[1]).slice(0, 400);
      fs.writeFileSync(process.env.HARNESS_PROFILE, top.map(([pc, n]) => `${pc.toString(16)} ${n}`).join('\n'));
    }
    if (args.flash) saveFlash(args.flash); // the board powered off: its flash kept for the next start
    process.exit(0);
  });

  // the plant's answers
  let pending = '';
  process.stdin.on('data', (chunk) => {
    pending += chunk.toString();
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const msg = JSON.parse(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      if (msg.reset) {
        reboot();
        return;
      }
      adc.value = msg.load;
      adc.ready = msg.load_ready;
      encoder.moveTo(msg.encoder, mcu.clock.nanos, nextPlant); // its step ends where the next begins
      mcu.adc.channelValues[wiring.current_adc - 26] = msg.current;
      for (const [pin, level] of Object.entries(msg.pins)) {
        mcu.gpio[pin].setInputValue(!!level);
      }
      waitingForPlant = false;
      resume();
    }
  });
  process.stdin.on('end', () => process.exit(0));

  function exchange(now) {
    waitingForPlant = true;
    nextPlant += PLANT_NS;
    process.stdout.write(JSON.stringify({
      t_us: Math.floor(now / 1000),
      enable: mcu.gpio[wiring.enable].outputValue ? 1 : 0,
      dir: mcu.gpio[wiring.dir].outputValue ? 1 : 0,
      duty: pwmDuty(mcu, pwm),
    }) + '\n');
  }

  let scheduled = false;
  // HARNESS_SPEED=X caps the emulation at X times real time (it runs as fast as the host allows without
  // it): to see what the speed changes, the host's wall-clock timeouts meeting a slow board.
  const speed = Number(process.env.HARNESS_SPEED) || Infinity;
  const wallStart = Date.now();
  function resume() {
    if (!scheduled && !waitingForPlant && !stopped) {
      scheduled = true;
      const ahead = clock.nanos / 1e6 / speed - (Date.now() - wallStart);
      if (ahead > 1) setTimeout(run, ahead);
      else setImmediate(run);
    }
  }

  const core = mcu.core;
  const clock = mcu.clock;
  const stats = { waits: 0, instructions: 0 };
  const load = new CpuLoad(args.stats, args.stretches);
  if (process.env.HARNESS_DEBUG) {
    // once a second of host time: how far the board got, and where
    let last = 0;
    setInterval(() => {
      const t = clock.nanos / 1e6;
      process.stderr.write(`harness: ${t.toFixed(1)} ms emulated (+${(t - last).toFixed(1)}), ` +
        `PC ${core.PC.toString(16)}, ${stats.instructions} instructions, ${stats.waits} waits, ${adcProgress()}, encoder ${encoder.position}\n`);
      last = t;
      stats.waits = stats.instructions = 0;
    }, 1000);
  }
  function run() {
    scheduled = false;
    const until = Date.now() + 20;
    const emulatedUntil = (Date.now() - wallStart + 20) * 1e6 * speed; // HARNESS_SPEED caps it
    while (!waitingForPlant && !stopped && Date.now() < until && clock.nanos < emulatedUntil) {
      for (let i = 0; i < 2000 && !waitingForPlant && !stopped; i++) {
        let now = clock.nanos;
        const next = Math.min(adc.nextConversion, encoder.due(), nextPlant);
        if (core.waiting) {
          // asleep until an interrupt: the PIO catches up after the jump (nothing here wakes on it)
          stats.waits++;
          const dt = Math.max(Math.min(clock.nanosToNextAlarm || Infinity, next - now, 100_000), CYCLE_NS);
          clock.tick(dt);
          load.asleep(now, dt);
        } else {
          // instructions up to the next peripheral event (interrupts are taken between any two)
          const until = Math.min(next, pio.due());
          for (let k = 0; k < 1000 && !core.waiting && clock.nanos < until; k++) {
            clock.tick(core.executeInstruction() * CYCLE_NS);
            stats.instructions++;
          }
          load.awake(now, core.PC);
          if (profile) profile.set(core.PC, (profile.get(core.PC) || 0) + 1);
        }
        now = clock.nanos;
        pio.step(now);
        adc.tick(now);
        encoder.tick(now);
        if (toDevice.length) feedDevice();
        if (now >= nextPlant) {
          load.window(now);
          exchange(now);
        }
      }
    }
    resume();
  }

  core.PC = 0x10000000; // boot2 at the start of the flash, as rp2040js's own demo starts
  resume();
}

main();
