# The sim's file side channel, for the virtual-board launcher (format: docs/virtual-plant.md).
# <dir>/inject.jsonl: the launcher appends {"inject": name, ...params} or {"clear": name} lines; the
#                     board applies each complete line once, in order.
# <dir>/plant.json:   the board publishes Sim.state() a few times a second, written to a temporary
#                     name and renamed so a reader never sees half a file.
import json
import os
import sys
import time

POLL_MS = 20  # wall time between looks at inject.jsonl
PUBLISH_MS = 200  # wall time between plant.json updates


class Channel:
    def __init__(self, path, sim):
        self.sim = sim
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
        tmp = self.plant_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(self.sim.state()))
        os.rename(tmp, self.plant_path)

    def _read_injections(self):
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

