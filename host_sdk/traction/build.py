"""`traction build`: a board image with the firmware frozen in, built from a MicroPython source tree.

    traction build --target qemu [--micropython DIR|TARBALL] [--variant rt|icount]

The qemu target is the emulated board (docs/firmware.md): MicroPython's ports/qemu for the MPS2-AN385
(Cortex-M3), with the project's port patch (firmware/ports/qemu/mps2.patch) applied to a copy of the tree
under build/, and firmware/ports/qemu/manifest.py frozen in. Two variants of the same frozen firmware:
  rt      interrupt-driven console UART, WFI while idle: for `traction sim --mcu` and end-to-end tests
  icount  polled console UART: for `qemu -icount shift=0` runs that count instructions deterministically
Toolchain: arm-none-eabi-gcc and newlib (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi), make, patch.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from .errors import TractionError

ROOT = Path(__file__).resolve().parents[2]
PORT_DIR = ROOT / "firmware" / "ports" / "qemu"
BOARD = "MPS2_AN385"
VARIANTS = {"rt": 1, "icount": 0}  # MICROPY_HW_UART_IRQ
MICROPYTHON_ENV = "TRACTION_MICROPYTHON"
DEFAULT_SOURCE = ROOT.parent / "shared" / "vendor" / "micropython-1.28.0.tar.xz"
BUILD_DIR = ROOT / "build" / "qemu"
TOOLS = ("arm-none-eabi-gcc", "make", "patch")

# The emulated board's config: the sim board's, with its link on the console UART, the side channel on
# UART1 and device time at wall-clock pace (the MCU runs the plant model too: it cannot run 30x).
# The record spool (firmware/traction_fw/spool.py) in the MPS2's PSRAM just past the LittleFS store that
# firmware/ports/qemu/ramblocks.py places at 0x21000000 (1 MB): QEMU keeps it across a system reset too.
IMAGE_SETTINGS = {"sim": {"link": "stdio", "channel": "uart:1", "time_scale": 1, "free_run": False,
                          "spool": {"address": 0x21100000, "size": 65536}}}


class BuildError(TractionError):
    """A board image that could not be built: what is missing and how to get it."""


def image_path(variant, build_dir=BUILD_DIR):
    """Where the emulated Cortex-M3 image of a variant (rt or icount) is built."""
    return Path(build_dir) / f"firmware-{variant}.elf"


def source_default():
    """The MicroPython source: $TRACTION_MICROPYTHON, else the vendored release in ../shared/vendor."""
    return os.environ.get(MICROPYTHON_ENV) or str(DEFAULT_SOURCE)


def build(source=None, variants=("rt", "icount"), build_dir=BUILD_DIR, jobs=2, log=None):
    """Build the qemu images; returns {variant: path of firmware-<variant>.elf}."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise BuildError(f"missing build tools: {', '.join(missing)} (Debian: apt-get install "
                         "gcc-arm-none-eabi libnewlib-arm-none-eabi make patch)")
    build_dir = Path(build_dir)
    tree = prepare_tree(Path(source or source_default()), build_dir, log)
    _make(["make", "-C", str(tree / "mpy-cross"), f"-j{jobs}"], log)
    manifest = _write_manifest(build_dir)
    out = {}
    for variant in variants:
        if variant not in VARIANTS:
            raise BuildError(f"unknown variant {variant!r}: rt or icount")
        obj = build_dir / f"build-{variant}"
        _make(["make", "-C", str(tree / "ports" / "qemu"), f"-j{jobs}", f"BOARD={BOARD}", f"BUILD={obj}",
               f"FROZEN_MANIFEST={manifest}", "MICROPY_VFS_LFS2=1",
               f"CFLAGS_EXTRA=-DMICROPY_HW_UART_IRQ={VARIANTS[variant]}"], log)
        out[variant] = image_path(variant, build_dir)
        shutil.copyfile(obj / "firmware.elf", out[variant])
        log(f"built {out[variant]}")
    return out


def prepare_tree(source, build_dir, log):
    """A patched copy of the MicroPython tree under build_dir, made again when the source or the patch
    changes."""
    if not source.exists():
        raise BuildError(f"MicroPython source {source} not found: give --micropython DIR (a v1.28.0 "
                         f"checkout) or a tarball, or set ${MICROPYTHON_ENV} (docs/firmware.md)")
    patch = PORT_DIR / "mps2.patch"
    stamp_text = f"{source.resolve()}\n{hashlib.sha256(patch.read_bytes()).hexdigest()}\n"
    tree = build_dir / "micropython"
    stamp = build_dir / "micropython.stamp"
    if tree.is_dir() and stamp.exists() and stamp.read_text() == stamp_text:
        return tree
    log(f"preparing the MicroPython tree from {source}")
    shutil.rmtree(tree, ignore_errors=True)
    build_dir.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, tree, symlinks=True, ignore=shutil.ignore_patterns(".git", "build*"))
    else:
        _unpack(source, tree)
    if not (tree / "ports" / "qemu").is_dir():
        raise BuildError(f"{source} is not a MicroPython tree (no ports/qemu)")
    _make(["patch", "-p1", "-d", str(tree), "-i", str(patch)], log)
    stamp.write_text(stamp_text)
    return tree


def _unpack(tarball, tree):
    tmp = tree.with_name(tree.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="tar")
    tops = list(tmp.iterdir())
    top = tops[0] if len(tops) == 1 and tops[0].is_dir() else tmp
    top.rename(tree)
    shutil.rmtree(tmp, ignore_errors=True)


def image_config():
    """The board config the emulated board's image starts with (its board.json)."""
    config = json.loads((ROOT / "firmware" / "boards" / "sim.json").read_text())
    for section, values in IMAGE_SETTINGS.items():
        config[section].update(values)
    return config


def _write_manifest(build_dir):
    """The top manifest, and the image's default board.json as a frozen module (image_config.py)."""
    gen = build_dir / "gen"
    gen.mkdir(parents=True, exist_ok=True)
    config = image_config()
    text = ("# Generated by traction build: the board config an emulated board starts with (board.json).\n"
            f"BOARD_JSON = {json.dumps(json.dumps(config, indent=1))}\n")
    _write_if_changed(gen / "image_config.py", text)
    manifest = gen / "manifest.py"
    _write_if_changed(manifest, f"include({str(PORT_DIR / 'manifest.py')!r}, config_dir={str(gen)!r}, "
                                "tests=True)\n")
    return manifest


def _write_if_changed(path, text):
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _make(cmd, log, env=None):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        raise BuildError(f"{' '.join(cmd[:3])} failed (exit {proc.returncode}):\n{tail}")


def register(subparsers):
    """Add `traction build` to the CLI's subcommands."""
    p = subparsers.add_parser("build", help="build a board image with the firmware frozen in",
                              description=(__doc__ or "").split("\n\n", 1)[1],
                              formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("--target", choices=["qemu", "pico"], default="qemu", help="the image to build (default "
                   "qemu: the emulated MPS2-AN385 board; pico: the product UF2 for a Raspberry Pi Pico, "
                   "traction.build_pico)")
    p.add_argument("--micropython", metavar="PATH", help="MicroPython v1.28.0 source: a checkout or its "
                   f"tarball (default ${MICROPYTHON_ENV}, else {DEFAULT_SOURCE})")
    p.add_argument("--variant", choices=sorted(VARIANTS), action="append",
                   help="build only this variant (repeatable; default both)")
    p.add_argument("--out", metavar="DIR", help=f"build folder (default {BUILD_DIR}, pico: build/pico)")
    p.set_defaults(func=run_build)


def run_build(args, console=None):
    """`traction build`: the image for --target (qemu or pico); prints where each went."""
    if args.target == "pico":
        from .build_pico import run

        return run(args)
    images = build(args.micropython, tuple(args.variant or VARIANTS), Path(args.out or BUILD_DIR))
    for variant, path in images.items():
        print(f"{variant}\t{path}")
    return 0


def main(argv=None):
    """The build as a script (tools and CI), with the CLI's arguments."""
    import argparse

    parser = argparse.ArgumentParser(prog="build_image")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["build", *(argv if argv is not None else sys.argv[1:])])
    try:
        return args.func(args)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
