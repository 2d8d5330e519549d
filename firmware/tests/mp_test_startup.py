# boot.py and main.py (traction_fw/startup.py): a board whose preparation fails still starts, with the
# failure latched as a fault the host sees, and a board gets its image's config on an empty store.

import json
import os

import fw_harness as h
from traction_fw import startup

FAULT = 6
INTERNAL = 15


def _store_with_config():
    store = h.new_store()
    with open(store + "/board.json", "w") as f:
        f.write(json.dumps(h.config(store=store)))
    return store


def test_prepare_never_raises_and_main_latches_the_failure():
    store = _store_with_config()
    startup.prepare(store + "/no-such-folder")  # not writable: the probe file cannot be created
    assert startup.failure is not None and "OSError" in startup.failure
    app = startup.app(store)
    try:
        assert app.state == FAULT and app.fault == INTERNAL
        assert not app.board.motor.enabled()
        kinds = []
        ring = app.journal.events
        while ring.count:
            o = ring.peek()
            kinds.append((ring.data[o], ring.data[o + 1]))
            ring.pop()
        assert (3, INTERNAL) in kinds  # EVENT FAULT, code INTERNAL: what the host is sent
    finally:
        startup.failure = None
        h.cleanup()


def test_a_good_store_boots_without_a_fault():
    store = _store_with_config()
    startup.prepare(store)
    assert startup.failure is None
    app = startup.app(store)
    assert app.state == 1 and app.fault == 0
    assert ".boot-probe" not in os.listdir(store)
    h.cleanup()
