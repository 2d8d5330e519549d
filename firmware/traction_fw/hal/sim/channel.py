# The sim's file side channel, for the virtual-board launcher (format: docs/virtual-plant.md).
# <dir>/inject.jsonl: the launcher appends {"inject": name, ...params} or {"clear": name} lines; the
#                     board applies each complete line once, in order.
# <dir>/plant.json:   the board publishes Sim.state() a few times a second, written to a temporary
#                     name and renamed so a reader never sees half a file.
# A path "uart:N" puts the same messages on machine.UART(N) instead, one JSON line each way (the emulated
# board, whose filesystem the launcher cannot see): injections in, the state out as {"plant": {...}}.
import json
import os
import sys
import time

POLL_MS = 20  # wall time between looks at inject.jsonl
PUBLISH_MS = 200  # wall time between plant.json updates


class Channel:
    def __init__(self, path, sim):
        self.sim = sim
        self.uart = None
        if path.startswith("uart:"):
            import machine

            self.uart = machine.UART(int(path[5:]))
            self.pending = b""
        self.inject_path = path + "/inject.jsonl"
        self.plant_path = path + "/plant.json"
        self.offset = 0  # bytes of inject.jsonl already applied
        self.errors = 0  # lines that could not be applied (reported on stderr)
        self._polled = self._published = time.ticks_ms() - PUBLISH_MS

    def poll(self):
        now = time.ticks_ms()
        if time.ticks_diff(now, self._polled) >= POLL_MS:
            self._polled = now
            self._read_injections()
        if time.ticks_diff(now, self._published) >= PUBLISH_MS:
            self._published = now
            self.publish()

    def publish(self):
        if self.uart is not None:
            self.uart.write(json.dumps({"plant": self.sim.state()}) + "\n")
            return
        tmp = self.plant_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(self.sim.state()))
        os.rename(tmp, self.plant_path)

    def _read_injections(self):
        if self.uart is not None:
            self._read_uart()
            return
        try:
            size = os.stat(self.inject_path)[6]
        except OSError:
            return
        if size <= self.offset:
            return
        with open(self.inject_path, "rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        end = data.rfind(b"\n")
        if end < 0:
            return  # the launcher is still writing this line
        self.offset += end + 1
        for line in data[:end].split(b"\n"):
            if line.strip():
                self._apply(line)

    def _read_uart(self):
        data = self.uart.read()
        if not data:
            return
        data = self.pending + data
        end = data.rfind(b"\n")
        self.pending = data[end + 1:]
        for line in data[:end].split(b"\n") if end >= 0 else ():
            if line.strip():
                self._apply(line)

    def _apply(self, line):
        try:
            msg = json.loads(line)
            if "clear" in msg:
                self.sim.clear(msg["clear"])
            else:
                name = msg.pop("inject")
                self.sim.inject(name, **msg)
        except (ValueError, KeyError, TypeError) as e:
            self.errors += 1
            print("sim channel: ignored", line, e, file=sys.stderr)

