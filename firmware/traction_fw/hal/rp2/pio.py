# The PIO programs of the Pico board, in MicroPython's PIO assembler (rp2.asm_pio: the names inside the
# functions are the assembler's, defined only while it runs them). firmware/tests/test_rp2_pio.py
# assembles them with the vendored MicroPython's assembler and runs them on a model of the PIO.
# pyright: reportUndefinedVariable=false, reportCallIssue=false, reportAttributeAccessIssue=false
import rp2


@rp2.asm_pio(sideset_init=rp2.PIO.OUT_LOW, in_shiftdir=rp2.PIO.SHIFT_LEFT)
def hx711_read():
    wait(0, pin, 0).side(0)  # DOUT low: a conversion is ready
    set(x, 23).side(0)
    label("bit")
    nop().side(1)[3]  # PD_SCK high: the chip shifts the next bit out
    in_(pins, 1).side(0)[2]
    jmp(x_dec, "bit").side(0)
    in_(null, 8).side(0)  # sign bit to bit 31: the CPU reads a signed word and shifts back
    push(noblock).side(0)
    nop().side(1)[3]  # the 25th pulse: channel A, gain 128 for the next conversion
    nop().side(0)[7]  # DOUT is high again before the next wait


@rp2.asm_pio(in_shiftdir=rp2.PIO.SHIFT_LEFT)
def quadrature():
    # instructions 0..15: one per (previous, new) pair, in that order
    jmp("update")  # 0: 00 -> 00
    jmp("up")  # 1
    jmp("down")  # 2
    jmp("update")  # 3: invalid
    jmp("down")  # 4
    jmp("update")  # 5
    jmp("update")  # 6: invalid
    jmp("up")  # 7
    jmp("up")  # 8
    jmp("update")  # 9: invalid
    jmp("update")  # 10
    jmp("down")  # 11
    jmp("update")  # 12: invalid
    jmp("down")  # 13
    jmp("up")  # 14
    jmp("update")  # 15
    label("up")  # X + 1 as ~(~X - 1): PIO only decrements
    mov(x, invert(x))
    jmp(x_dec, "up_done")
    label("up_done")
    mov(x, invert(x))
    jmp("update")
    label("down")
    jmp(x_dec, "update")
    label("update")
    mov(y, isr)  # the new state is in its low two bits
    mov(isr, x)
    push(noblock)
    wrap_target()
    in_(y, 2)
    in_(pins, 2)
    mov(pc, isr)
    wrap()
    nop()  # padding to 32 instructions: see above
    nop()
    nop()
    nop()
    nop()
