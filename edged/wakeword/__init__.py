"""On-device wake word detection (microWakeWord models through pymicro-wakeword).

Nothing is imported here: a daemon with the wake word off never loads numpy's
TensorFlow Lite companion, and a 32-bit system without the package still runs.
"""
