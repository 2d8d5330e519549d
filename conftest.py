"""pytest plugin: `mp_test_*.py` files are collected as MicroPython tests and run on the unix port.

Each `test_*` function becomes one pytest item; the module runs once per session under the real
MicroPython interpreter (tools/mp_runner.py) and each item reports its own outcome.
"""

import ast
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).parent
MP_PATH = [ROOT / "protocol", ROOT / "firmware", ROOT / "firmware" / "tests", ROOT / "protocol" / "tests"]
MP_TIMEOUT_S = 600


# hil_tests' options live here, at the root, so `pytest --board /dev/ttyACM0` works from anywhere.
def pytest_addoption(parser):
    group = parser.getgroup("hil", "hardware-in-the-loop (hil_tests)")
    group.addoption("--board", default="sim", help="'sim' (a virtual board per test, the default), 'mcu' "
                    "(the emulated board's image under QEMU, docs/firmware.md), 'rp2040' (the Pico image on "
                    "rp2040js; 'rp2040-ads1220' with an ADS1220 for its load cell), a device path such as "
                    "/dev/ttyACM0, or a pyserial URL")
    group.addoption("--time-scale", type=int, default=30, help="virtual board time scale (default 30)")
    group.addoption("--board-key-file", default=None, metavar="FILE", help="a real board's device key (from "
                    "its provisioning: 32 bytes or 64 hex digits), to verify its records; or set "
                    "TRACTION_BOARD_KEY to the 64 hex digits")
    group.addoption("--board-key", default=None, metavar="HEX", help="deprecated (the key shows in ps and "
                    "the shell history): use --board-key-file or TRACTION_BOARD_KEY")
    group.addoption("--yes", action="store_true", help="drive a real board without asking (an unattended "
                    "rig); otherwise the forces are shown and 'yes' must be typed")
    group.addoption("--qa-dir", default=None, metavar="DIR", help="where the QA record (run.json) and the "
                    "JUnit XML go (default qa-runs/<UTC time>); see docs/qa.md")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """A run that includes hil_tests writes its QA record and a JUnit XML in --qa-dir (see
    hil_tests/qa_plugin.py); set here, as pytest's junitxml reads its path before a bare `pytest` loads
    hil_tests' conftest."""
    if config.option.qa_dir is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        config.option.qa_dir = str(ROOT / "qa-runs" / stamp)
    hil = ROOT / "hil_tests"
    paths = [(config.invocation_params.dir / a.split("::")[0]).resolve() for a in config.args]
    runs_hil = any(hil.is_relative_to(p) or p.is_relative_to(hil) for p in paths)
    if runs_hil and config.option.xmlpath is None and not config.option.collectonly:
        config.option.xmlpath = str(Path(config.option.qa_dir) / "junit.xml")


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".py" and file_path.name.startswith("mp_test_"):
        return MicroPythonModule.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path, parent):
    # pytest imports a file named on the command line under CPython too, whatever its name: not these.
    if module_path.name.startswith("mp_test_"):
        return Elsewhere.from_parent(parent, path=module_path)
    return None


class Elsewhere(pytest.File):
    """The CPython side of an mp_test file: nothing; MicroPythonModule collects its tests."""

    def collect(self):
        return []


class MicroPythonModule(pytest.File):
    def collect(self):
        tree = ast.parse(self.path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                item = MicroPythonTest.from_parent(self, name=node.name)
                ids = hazards_of(node)
                if ids:
                    item.add_marker(pytest.mark.hazard(*ids))
                yield item

    def results(self):
        if not hasattr(self, "_results"):
            names = [item.name for item in self.collect()]
            if self.config.getoption("--board") == "mcu":
                self._results = run_module_on_mcu(self.path, names)
            else:
                self._results = run_module(self.path, names)
        return self._results


def hazards_of(node):
    """The ids of a `@hazard("H-03", ...)` decorator (firmware/tests/hazard.py) on a test function."""
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call) and getattr(dec.func, "id", None) == "hazard":
            return [a.value for a in dec.args if isinstance(a, ast.Constant)]
    return []


class MicroPythonTest(pytest.Item):
    def runtest(self):
        outcome, detail = self.parent.results().get(self.name, ("missing", "no result reported"))
        if outcome == "SKIP":
            pytest.skip(detail)
        if outcome != "PASS":
            raise MicroPythonFailure(detail)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return f"under MicroPython:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"{self.name} [micropython]"


class MicroPythonFailure(Exception):
    pass


def run_module(path, names):
    from traction.micropython import interpreter

    env = dict(os.environ, MICROPYPATH=os.pathsep.join(str(p) for p in [*MP_PATH, path.parent]))
    cmd = [interpreter(), str(ROOT / "tools" / "mp_runner.py"), str(path.parent), path.stem, *names]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=MP_TIMEOUT_S, env=env, cwd=path.parent
        )
    except subprocess.TimeoutExpired:
        return {n: ("FAIL", f"timed out after {MP_TIMEOUT_S} s") for n in names}
    return parse_output(proc.stdout, proc.stderr, proc.returncode, names)


def run_module_on_mcu(path, names):
    """The same tests on the emulated board, where they are frozen into the image (docs/firmware.md)."""
    from traction.emulated_board import run_test_module

    try:
        stdout, stderr, returncode = run_test_module(path, names, MP_TIMEOUT_S)
    except TimeoutError:
        return {n: ("FAIL", f"timed out after {MP_TIMEOUT_S} s on the emulated board") for n in names}
    return parse_output(stdout, stderr, returncode, names)


def parse_output(stdout, stderr, returncode, names):
    results, current, trace = {}, None, []
    for line in stdout.splitlines():
        if current is not None:
            if line == "@@END":
                results[current] = ("FAIL", "\n".join(trace))
                current, trace = None, []
            else:
                trace.append(line)
        elif line.startswith("@@PASS "):
            results[line[7:]] = ("PASS", "")
        elif line.startswith("@@SKIP "):
            name, _, reason = line[7:].partition(" ")
            results[name] = ("SKIP", reason)
        elif line.startswith("@@FAIL "):
            current = line[7:]
    crash = f"interpreter exited {returncode}\nstdout:\n{stdout[-4000:]}\nstderr:\n{stderr[-4000:]}"
    for n in names:
        results.setdefault(n, ("FAIL", crash))
    return results
