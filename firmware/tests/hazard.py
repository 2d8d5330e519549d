# Marks a MicroPython test with the hazards it injects (docs/safety.md, hazard register): @hazard("H-03").
# On the board it does nothing; the root conftest reads the decorator from the source and gives the pytest
# item a `hazard` marker, so a traceability table can be generated from the tests.


def hazard(*ids):
    def mark(fn):
        return fn

    return mark
