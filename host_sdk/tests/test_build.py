"""`traction build`: what an image freezes (firmware/manifest.py, composed per image) and the build's
one-line errors. The image itself is built and run by .ci/run (docs/firmware.md)."""

import os
from pathlib import Path

import pytest
from traction import build
from traction.cli import main

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


class Options:
    def __init__(self, **given):
        self.given = given
        self.fallback = {}

    def defaults(self, **kw):
        self.fallback = kw

    def __getattr__(self, name):
        return self.given.get(name, self.fallback.get(name))


def frozen(manifest, **options):
    """What a manifest asks for, run with stand-ins for MicroPython's manifest tool."""
    calls = []
    here = os.getcwd()
    os.chdir(manifest.parent)
    try:
        exec(manifest.read_text(), {  # the manifest is the project's own file
            "options": Options(**options),
            "include": lambda path, **kw: calls.append(("include", path, kw)),
            "package": lambda name, files=None, base_path=".", opt=None: calls.append(
                ("package", name, files)),
            "module": lambda name, base_path=".", opt=None: calls.append(("module", name, None)),
        })
    finally:
        os.chdir(here)
    return calls


def test_a_product_image_leaves_the_simulated_board_out_and_takes_the_ports_manifest():
    calls = frozen(FIRMWARE / "manifest.py")
    assert ("include", "$(PORT_DIR)/boards/manifest.py", {}) in calls
    files = next(files for kind, name, files in calls if name == "traction_fw")
    assert "app.py" in files and "hal/__init__.py" in files
    assert not [f for f in files if f.startswith("hal/sim")]
    assert ("module", "main.py", None) not in calls  # on a real board main.py stays on its filesystem


def test_the_emulated_image_keeps_the_simulated_board_and_its_scripts():
    calls = frozen(FIRMWARE / "manifest.py", port_manifest=False, sim=True, scripts=True)
    assert not [c for c in calls if c[0] == "include"]  # ports/qemu has no manifest of its own
    files = next(files for kind, name, files in calls if name == "traction_fw")
    assert "hal/sim/board.py" in files and "hal/sim/link.py" in files
    assert ("module", "boot.py", None) in calls and ("module", "main.py", None) in calls
    qemu = frozen(FIRMWARE / "ports" / "qemu" / "manifest.py", config_dir="gen")
    assert ("include", "../../manifest.py", {"port_manifest": False, "sim": True, "scripts": True}) in qemu
    assert ("module", "_boot.py", None) in qemu


def test_the_image_config_puts_the_link_and_side_channel_on_the_uarts():
    config = build.image_config()
    assert config["sim"]["link"] == "stdio" and config["sim"]["channel"] == "uart:1"
    assert config["sim"]["time_scale"] == 1


def test_a_missing_source_tree_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda tool: "/usr/bin/" + tool)
    missing = tmp_path / "nowhere"
    assert main(["build", "--micropython", str(missing), "--out", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    assert str(missing) in err and "--micropython" in err and len(err.strip().splitlines()) == 1


def test_missing_tools_are_named_with_their_packages(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda tool: None)
    assert main(["build", "--out", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "arm-none-eabi-gcc" in err and "gcc-arm-none-eabi" in err


@pytest.mark.parametrize("extra", [["--store", "x"], ["--time-scale", "5"]])
def test_sim_mcu_refuses_the_unix_boards_options(extra, capsys):
    assert main(["sim", "--mcu", "cortex-m3", *extra]) != 0
    assert "emulated board" in capsys.readouterr().err
