"""Shared by the host SDK tests: the `e2e` marker for tests that run the real firmware on a virtual board."""


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end to end on a virtual board (real firmware, MicroPython)")
