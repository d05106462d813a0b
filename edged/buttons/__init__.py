"""The wake and push-to-talk buttons and the status LED.

``gestures`` is pure: debounced edges and hold times in, conversation events
out, time passed in. ``gpio`` is the thin shell over gpiozero that feeds it from
the pins' threads through the event loop.
"""
