"""Hardware-in-the-loop suite: drives a board only through the SDK.

    pytest hil_tests                        # a virtual board per test (the default, --board sim)
    pytest hil_tests --board /dev/ttyACM0   # a real board (or a pyserial URL such as socket://host:4000)
    pytest hil_tests --board mcu            # the emulated board's image under QEMU, one per test
    pytest hil_tests --board rp2040         # the Pico product image on rp2040js, one per test
    pytest hil_tests --board rp2040-ads1220 # the same with an ADS1220 for its load cell

Tests marked `fault_injection` need the virtual board's side channel and skip on a real board.
"""

import hil_support
import pytest
import qa_plugin
from hil_support import to_idle
from qa_plugin import EMULATED
from traction import Device, VirtualBoard


def pytest_configure(config):
    config.pluginmanager.register(qa_plugin, "traction-qa")  # measurements, identity, the QA record
    board = EMULATED.get(config.getoption("--board"))
    hil_support.SLOWDOWN = getattr(board, "SLOWDOWN", 1.0)  # an emulator slower than real time
    config.addinivalue_line("markers", "time_scale(n): run this test's virtual board at time scale n (a "
                            "transient state such as RELEASING needs time to be looked at)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--board") == "sim" or config.getoption("--board") in EMULATED:
        return
    skip = pytest.mark.skip(reason="needs the virtual board's side channel (--board sim)")
    for item in items:
        if "fault_injection" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def sim(request, tmp_path):
    """The VirtualBoard (or emulated board) under test, or None on a real board."""
    if request.config.getoption("--board") in EMULATED:
        with EMULATED[request.config.getoption("--board")]() as board:
            yield board
            board.check()
        return
    if request.config.getoption("--board") != "sim":
        yield None
        return
    marker = request.node.get_closest_marker("time_scale")
    time_scale = marker.args[0] if marker else request.config.getoption("--time-scale")
    with VirtualBoard(store_dir=tmp_path / "board", time_scale=time_scale) as vb:
        yield vb
        vb.check()  # the board never crash-looped during the test


@pytest.fixture
def faults(sim):
    """The virtual board, for fault injection (tests using it are marked fault_injection)."""
    if sim is None:
        pytest.skip("fault injection needs the virtual board (--board sim)")
    return sim


@pytest.fixture
def connect(rig, sim, tmp_path):
    """connect() -> a new Device on the board under test; every one is closed after the test."""
    port = sim.port if sim else rig.port
    key = sim.key if sim else rig.key
    opened = []

    def connect(**options):
        dev = Device.open(port, store=tmp_path / "host.db", key=key, **options)
        opened.append(dev)
        return dev

    yield connect
    for dev in opened:
        dev.close()


@pytest.fixture
def device(connect):
    """A connected Device on an IDLE board with no record waiting."""
    dev = connect()
    to_idle(dev)
    return dev
