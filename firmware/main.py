# Board entry point: the board config is board.json in the current directory (the store root); run the
# application until a REPL break-in (SPEC section 11), then return so the REPL takes the port.
import json

from traction_fw import hal
from traction_fw.app import App


def main():
    with open("board.json") as f:
        config = json.load(f)
    App(hal.load(config)).run()


main()
