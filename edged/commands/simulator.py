"""``edged simulator``: run the loopback realtime server (demo, tests, benchmarks)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _pace(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if math.isnan(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be above 0 (1.0 = real time, inf = unpaced)")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0–65535 (0 = any free port)")
    return value


def _chunk(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 10 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be 10–1000 milliseconds")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.1 <= value <= 600:
        raise argparse.ArgumentTypeError("must be 0.1–600 seconds")
    return value


def _fault(text: str) -> Any:
    from edged.simulator.faults import FaultSpecError, parse_spec

    try:
        return parse_spec(text)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulator",
        help="run a loopback realtime server with fault injection",
        description="Serve the realtime protocol (both dialects) on loopback, answering with "
        "real PCM: your own audio echoed, a speech-like tone, or silence. Prints its URL on "
        "the first line of standard output and runs until SIGINT or SIGTERM. Any API key is "
        "accepted.",
        epilog="Faults apply to the next connections in the order given: "
        "refuse:STATUS[:RETRY_AFTER], close:CODE[:AFTER_S], drop[:AFTER_CHUNKS], "
        "silent[:AFTER_S], malformed[:audio], expired[:AFTER_S], "
        "expired:create|created|audio|done, delay:SECONDS, "
        "quotekey[:AFTER_S] (an error quoting the client's key), surrogate[:AFTER_S] (an "
        "error holding a lone surrogate), reject:EVENT:CODE[:N][:noecho] (refuse a client "
        "event), errorthenclose:CODE[:AFTER_S], failed[:AFTER_CHUNKS[:CODE]], "
        "incomplete[:AFTER_CHUNKS[:REASON]], bigframe:MIB[:AFTER_S], badutf8[:AFTER_S]; "
        "append xN for N connections, e.g. --fault refuse:503:2x3 --fault close:1011:5. "
        "call:NAME:ARGUMENTS is no fault: the next response (on any connection) calls "
        "function NAME with ARGUMENTS, the rest of the text verbatim (it may be invalid JSON; "
        "no xN: give the option again for more responses), e.g. "
        "--fault 'call:set_timer:{\"seconds\": 300}'. The client's output then goes with "
        "the next response.create, which is answered as usual. "
        "mcp:LABEL:NAME:ARGUMENTS (GA) makes the next response call tool NAME of the MCP "
        "server LABEL itself, then speak; mcpask:LABEL:NAME:ARGUMENTS asks the client's "
        "approval first and waits for it.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: "
                   "127.0.0.1; only loopback unless --allow-remote)")
    p.add_argument("--port", type=_port, default=8765, help="TCP port (default: 8765; 0 = any "
                   "free port)")
    p.add_argument("--answer", choices=("echo", "tone", "silence"), default="echo",
                   help="what answers contain (default: echo)")
    p.add_argument("--pace", type=_pace, default=1.0, help="answer streaming speed as a "
                   "multiple of real time (default: 1.0; real servers run faster, e.g. 4)")
    p.add_argument("--chunk-ms", type=_chunk, default=100, help="audio per delta, "
                   "milliseconds (default: 100)")
    p.add_argument("--answer-s", type=_seconds, default=1.5, metavar="SECONDS",
                   help="length of tone and silence answers (default: 1.5)")
    p.add_argument("--fault", type=_fault, action="append", default=[], metavar="SPEC",
                   help="inject a fault (repeatable); see below")
    p.add_argument("--tls-cert", metavar="CERT", help="serve wss:// with this PEM certificate")
    p.add_argument("--tls-key", metavar="KEY", help="the certificate's PEM private key")
    p.add_argument("--require-key-env", metavar="VAR", help="refuse (401) clients whose key "
                   "differs from the one in environment variable VAR")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback address")
    p.add_argument("-v", "--verbose", action="store_true", help="log handshakes and client "
                   "events (not audio) to standard error")
    p.set_defaults(handler=run)


def _err(message: str) -> None:
    print(f"edged simulator: {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import ssl

    context: ssl.SSLContext | None = None
    if bool(args.tls_cert) != bool(args.tls_key):
        _err("--tls-cert and --tls-key go together")
        return EXIT_USAGE
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            _err(f"cannot load the TLS certificate or key: {exc.strerror or exc}")
            return EXIT_USAGE
    key: str | None = None
    if args.require_key_env:
        key = os.environ.get(args.require_key_env)
        if not key:
            _err(f"--require-key-env: environment variable {args.require_key_env} is not set")
            return EXIT_USAGE
    try:
        return asyncio.run(_serve(args, context, key))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 130


async def _serve(args: argparse.Namespace, context: Any, key: str | None) -> int:
    import asyncio
    import signal

    from edged.simulator import Simulator

    sim = Simulator(args.host, args.port, args.answer, args.pace, context,
                    chunk_ms=args.chunk_ms, require_key=key, record=False, tone_s=args.answer_s,
                    allow_remote=args.allow_remote, log=_err if args.verbose else None)
    for fault, times in args.fault:
        sim.inject(fault, times)
    try:
        await sim.start()
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        _err(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return EXIT_FAILED
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, done.set)
    print(sim.url, flush=True)
    faults = ", ".join(f.describe() if f.kind in ("call", "mcp", "mcpask")
                       else f"{f.describe()}x{n}"
                       for f, n in args.fault) or "none"
    _err(f"answer {args.answer}, pace {args.pace:g}, chunks {args.chunk_ms} ms, faults: "
         f"{faults}; stop with Ctrl-C or SIGTERM")
    try:
        await done.wait()
    finally:
        await sim.stop()
    _err(f"stopped after {sim.connections} connection(s), {len(sim.handshakes)} handshake(s)")
    return EXIT_OK
