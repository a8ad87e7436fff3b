"""The front panel: one push button and three LEDs on GPIO, driven through gpiozero."""
