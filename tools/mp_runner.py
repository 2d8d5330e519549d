# Runs named test functions of one module under MicroPython and prints one marker line per test.
# Usage: micropython mp_runner.py MODULE_DIR MODULE_NAME TEST [TEST ...]
# Paths to search come from MICROPYPATH. Output: "@@PASS name", "@@SKIP name reason" or "@@FAIL name"
# followed by the traceback and "@@END".
import sys


class Skip(Exception):
    pass


def main():
    sys.path.insert(0, sys.argv[1])
    mod = __import__(sys.argv[2])
    for name in sys.argv[3:]:
        try:
            getattr(mod, name)()
            print("@@PASS", name)
        except Skip as e:
            print("@@SKIP", name, e)
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            if type(e).__name__ == "Skip":
                print("@@SKIP", name, e)
                continue
            print("@@FAIL", name)
            sys.print_exception(e)
            print("@@END")


main()
