"""Runs edged's native dependencies under the unit's seccomp rules (a child process).

Usage: ``python sandboxed.py ALLOWED_SYSCALLS.json WORKDIR [wake_word]``. It installs, through
libseccomp, the two filters systemd would install for edged.service:

* ``SystemCallFilter=@system-service`` minus ``~@privileged @resources``, with
  ``SystemCallErrorNumber=EPERM`` (the list is expanded by the test from
  ``systemd-analyze syscall-filter`` and passed in as JSON);
* ``MemoryDenyWriteExecute=yes``, with systemd's rules: no mmap that is both writable
  and executable, no mprotect/pkey_mprotect adding PROT_EXEC, no shmat with SHM_EXEC;

then proves both filters are active and does, with the real libraries, what the
daemon does with them: a ctypes callback (the ALSA error handler, invoked by
PortAudio's device scan), PyAudio streams on ALSA PCMs, numpy + soxr resampling, the
webrtc noise/gain module, gpiozero with its mock pins, and a websockets round trip on
loopback. It prints one JSON line of results and exits 0 only if all of it worked.

With ``wake_word`` it runs the wake word instead, after the same filters: the shipped
okay_nabu model on TensorFlow Lite (a C library pymicro-wakeword drives through
ctypes), fed a second of tone and noise, then ``WORKDIR/okay_nabu.raw`` (16 kHz mono
PCM16 of the phrase). That package is optional (64-bit only), so it is a run of its own.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import json
import mmap
import os
import sys

PR_SET_NO_NEW_PRIVS = 38
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7
SHM_EXEC = 0o100000


def scmp_act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class ArgCmp(ctypes.Structure):
    _fields_ = (("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64))


def install_filters(allowed: list[str]) -> list[str]:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    seccomp = ctypes.CDLL("libseccomp.so.2")
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = (ctypes.c_uint32,)
    seccomp.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
    seccomp.seccomp_rule_add_array.argtypes = (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(ArgCmp))
    seccomp.seccomp_load.argtypes = (ctypes.c_void_p,)
    seccomp.seccomp_release.argtypes = (ctypes.c_void_p,)

    def rule(ctx: int, action: int, name: str, *cmps: ArgCmp) -> bool:
        nr = seccomp.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # not a system call on this architecture
            return False
        array = (ArgCmp * max(1, len(cmps)))(*cmps)
        rc = seccomp.seccomp_rule_add_array(ctx, action, nr, len(cmps), array)
        if rc != 0:
            raise OSError(-rc, f"seccomp_rule_add({name})")
        return True

    # MemoryDenyWriteExecute=yes, as systemd's seccomp_memory_deny_write_execute();
    # first, since the allow-list below does not allow seccomp() itself.
    wx = mmap.PROT_WRITE | mmap.PROT_EXEC
    ctx = seccomp.seccomp_init(SCMP_ACT_ALLOW)
    deny = scmp_act_errno(errno.EPERM)
    for name in ("mmap", "mmap2"):
        rule(ctx, deny, name, ArgCmp(2, SCMP_CMP_MASKED_EQ, wx, wx))
    for name in ("mprotect", "pkey_mprotect"):
        rule(ctx, deny, name, ArgCmp(2, SCMP_CMP_MASKED_EQ, mmap.PROT_EXEC, mmap.PROT_EXEC))
    rule(ctx, deny, "shmat", ArgCmp(2, SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC))
    if seccomp.seccomp_load(ctx) != 0:
        raise OSError("seccomp_load (W^X filter) failed")
    seccomp.seccomp_release(ctx)

    # SystemCallFilter= (allow-list; everything else fails with EPERM).
    ctx = seccomp.seccomp_init(scmp_act_errno(errno.EPERM))
    added = [name for name in allowed if rule(ctx, SCMP_ACT_ALLOW, name)]
    if seccomp.seccomp_load(ctx) != 0:
        raise OSError("seccomp_load (system call filter) failed")
    seccomp.seccomp_release(ctx)
    return added


def filters_are_active() -> dict[str, bool]:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
    prot = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    addr = libc.mmap(None, 4096, prot, flags, -1, 0)
    wx_refused = addr in (None, ctypes.c_void_p(-1).value) and ctypes.get_errno() == errno.EPERM
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 5)  # @resources: filtered out
        resources_refused = False
    except PermissionError:
        resources_refused = True
    return {"wx_mmap_refused": wx_refused, "setpriority_refused": resources_refused}


def ctypes_callback() -> bool:
    libc = ctypes.CDLL(None)
    compare_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                                 ctypes.POINTER(ctypes.c_int))
    compare = compare_t(lambda a, b: a[0] - b[0])
    values = (ctypes.c_int * 5)(5, 1, 4, 2, 3)
    libc.qsort(values, 5, ctypes.sizeof(ctypes.c_int), compare)
    return list(values) == [1, 2, 3, 4, 5]


def audio(workdir: str) -> dict[str, object]:
    """The ALSA error handler (a ctypes callback) and PyAudio streams on file PCMs."""
    calls = []
    handler_t = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_char_p)
    handler = handler_t(lambda *_: calls.append(1))
    asound = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    asound.snd_lib_error_set_handler(handler)

    import pyaudio

    pa = pyaudio.PyAudio()
    try:
        names = {pa.get_device_info_by_index(i)["name"]: i for i in range(pa.get_device_count())}
        mic = pa.open(format=pyaudio.paInt16, channels=1, rate=24000, input=True,
                      input_device_index=names["edged_test_mic"], frames_per_buffer=480)
        frame = mic.read(480, exception_on_overflow=False)
        mic.close()
        spk = pa.open(format=pyaudio.paInt16, channels=1, rate=24000, output=True,
                      output_device_index=names["edged_test_spk"], frames_per_buffer=480)
        spk.write(frame)
        spk.close()
    finally:
        pa.terminate()
    played = os.path.getsize(os.path.join(workdir, "out.raw"))
    return {"alsa_handler_calls": len(calls), "captured": len(frame), "played": played}


def dsp() -> bool:
    import numpy as np
    import soxr
    from webrtc_noise_gain import AudioProcessor

    tone = np.sin(np.arange(4800, dtype=np.float32) / 10)
    out = soxr.resample(tone, 48000, 24000)
    processor = AudioProcessor(0, 2)
    processor.Process10ms(b"\0" * 320)
    return bool(abs(len(out) - 2400) <= 2)


def gpio() -> bool:
    from gpiozero import Button, Device
    from gpiozero.pins.mock import MockFactory

    Device.pin_factory = MockFactory()
    button = Button(17)
    button.pin.drive_low()
    pressed = bool(button.is_pressed)
    button.close()
    return pressed


async def websocket_round_trip() -> bool:
    import websockets

    async def echo(ws: websockets.ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}") as ws:
            await ws.send("ping")
            return await ws.recv() == "ping"


def wake_word(workdir: str) -> dict[str, object]:
    """The detector the daemon loads, on a second of tone and noise, then on the phrase:
    a probability above the cutoff for the phrase alone shows the model really ran."""
    import numpy as np

    from edged.wakeword.detector import RATE, load

    detector = load("okay_nabu")
    try:
        t = np.arange(RATE) / RATE
        noise = np.random.default_rng(7).normal(0, 300, RATE)
        tone = np.sin(2 * np.pi * 440 * t) * 3000 + noise
        heard_tone = detector.process(tone.astype("<i2").tobytes())
        with open(os.path.join(workdir, "okay_nabu.raw"), "rb") as f:
            heard_phrase = detector.process(f.read())
    finally:
        detector.close()
    return {"wake_model": detector.spec.name, "wake_cutoff": detector.spec.cutoff,
            "wake_tone_steps": len(heard_tone), "wake_tone_max": max(heard_tone),
            "wake_phrase_steps": len(heard_phrase), "wake_phrase_max": max(heard_phrase)}


def main() -> int:
    with open(sys.argv[1]) as f:
        allowed = json.load(f)
    workdir = sys.argv[2]
    results: dict[str, object] = {"allowed": len(install_filters(allowed))}
    results.update(filters_are_active())
    if sys.argv[3:] == ["wake_word"]:
        results.update(wake_word(workdir))
        print(json.dumps(results))
        return 0
    results["ctypes_callback"] = ctypes_callback()
    results.update(audio(workdir))
    results["dsp"] = dsp()
    results["gpio_mock"] = gpio()
    results["websocket"] = asyncio.run(websocket_round_trip())
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
