"""The hardware-in-the-loop rig: virtual boards, simulated peripherals, scenarios."""
