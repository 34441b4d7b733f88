"""The processes bench/collector.py starts: wrapped apps, a collector, and event senders.

- `asgi_wrapped` / `wsgi_wrapped()`: the hello apps of bench/apps.py behind capture on the
  process-wide default bus, so `INSPECTOR_BUS` decides where the events go (`off`, or a
  collector's address), exactly as for a user's app. At exit they write what their bus and
  sink did to `$BENCH_STATS_DIR/<pid>.json`.
- `python -m bench.collector_apps collector ADDRESS`: what the viewer does with events, minus
  the screen: a `Collector` hands each peer's batches to an `EventBus`, whose subscriber folds
  every event into a bounded `Store`. It prints one `ready` line, then answers each `stats`
  line on stdin with one JSON line on stdout; `quit` (or the end of stdin) stops it.
- `python -m bench.collector_apps sender ADDRESS`: one app process's worth of events: real
  ASGI capture around an app answering 6 headers and a 1 KiB body, called for GET requests
  with 10 headers, on a bus whose `Sink` streams to ADDRESS; paced to an offered rate of events
  per second, or as fast as it can (`--rate 0`). It prints one JSON line of counts at the end.
- `python -m bench.collector_apps replay ADDRESS`: the same exchanges, encoded once and
  replayed with fresh ids straight onto the wire after the hello: a sender that costs almost
  no CPU, to find the collector's own ceiling on a machine with few cores.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import cProfile
import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.apps import AT_SHUTDOWN, asgi_app, wsgi_app  # noqa: E402
from inspector import (  # noqa: E402
    ASGIInspectorMiddleware,
    EventBus,
    WSGIInspectorMiddleware,
    default_bus,
    wire,
)
from inspector.collector import Collector  # noqa: E402
from inspector.events import Event, ExchangeFinished  # noqa: E402
from inspector.sink import Sink  # noqa: E402
from inspector.store import DEFAULT_MAX_BYTES, DEFAULT_MAX_EXCHANGES, Store  # noqa: E402

# -- wrapped apps (uvicorn --factory, gunicorn module:factory()) -----------------------------


def _sink_of(bus: EventBus) -> Sink | None:
    for subscriber in bus._subscribers:  # a benchmark may look inside
        if isinstance(subscriber, Sink):
            return subscriber
    return None


def _report_at_exit() -> None:
    directory = os.environ.get("BENCH_STATS_DIR")
    if not directory:
        return
    reported = False

    def report() -> None:
        nonlocal reported
        if reported:
            return
        reported = True
        bus = default_bus()
        bus.flush(5)
        sink = _sink_of(bus)
        if sink is not None:
            sink.close(10)  # sends what it still holds
        stats = bus.stats()
        data = {
            "delivered": stats.delivered,
            "bus_dropped": stats.dropped,
            "capture_errors": stats.capture_errors,
            "subscriber_errors": stats.subscriber_errors,
            "sink": sink is not None,
            "sink_sent": sink.sent if sink else 0,
            "sink_dropped": sink.dropped if sink else 0,
            "sink_error": sink.last_error if sink else None,
        }
        with open(os.path.join(directory, f"{os.getpid()}.json"), "w") as file:
            json.dump(data, file)

    atexit.register(report)  # gunicorn workers
    AT_SHUTDOWN.append(report)  # uvicorn (see bench.apps.lifespan)


def asgi_wrapped() -> Any:
    _report_at_exit()
    return ASGIInspectorMiddleware(asgi_app)


def wsgi_wrapped() -> Any:
    _report_at_exit()
    return WSGIInspectorMiddleware(wsgi_app)


# -- the collector process -------------------------------------------------------------------


class Fold:
    """The bus subscriber: folds every event into the store, as the viewer does."""

    def __init__(self, store: Store, profile: cProfile.Profile | None) -> None:
        self.store = store
        self.finished = 0
        self.profile = profile
        self.profiling = False

    def __call__(self, events: Sequence[Event]) -> None:
        if self.profile is not None and not self.profiling:
            self.profiling = True
            self.profile.enable()  # from now on, everything the bus thread does
        self.store.add(events)
        self.finished += sum(1 for event in events if type(event) is ExchangeFinished)


def thread_cpu(threads: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds of some threads of this process, by label, from /proc (native ids)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for label, tid in threads.items():
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[label] = (int(fields[11]) + int(fields[12])) / tick
    return out


def serve_collector(args: argparse.Namespace) -> None:
    address = wire.parse_address(args.address)
    store = Store(args.max_exchanges, args.max_bytes)
    bus = EventBus()
    profiles = (cProfile.Profile(), cProfile.Profile()) if args.profile else None
    fold = Fold(store, profiles[1] if profiles else None)
    bus.subscribe(fold)
    assert bus._thread is not None
    threads = {"collector": threading.get_native_id(), "bus": bus._thread.native_id}

    async def main() -> None:
        collector = Collector(address, bus.publish_all)
        await collector.start()
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def control() -> None:
            for line in sys.stdin:
                command = line.strip()
                if command == "stats":
                    stats = bus.stats()
                    answer = {
                        "received": collector.received,
                        "folded": store.events_seen,
                        "finished": fold.finished,
                        "reported_dropped": store.events_dropped,
                        "bus_dropped": stats.dropped,
                        "bus_queued": stats.queued,
                        "exchanges": len(store),
                        "store_bytes": store.bytes,
                        "evicted": store.evicted,
                        "peers": len(collector.peers),
                        "errors": list(collector.errors),
                        "threads": thread_cpu(threads),
                    }
                    print(json.dumps(answer), flush=True)
                elif command == "quit":
                    break
            loop.call_soon_threadsafe(done.set)

        threading.Thread(target=control, name="control", daemon=True).start()
        print("ready", flush=True)
        if profiles:
            profiles[0].enable()
        try:
            await done.wait()
        finally:
            if profiles:
                profiles[0].disable()
            await collector.close()

    asyncio.run(main())
    bus.close()
    if profiles:
        if fold.profiling:
            profiles[1].disable()  # harmless from another thread: it stops collecting data
        profiles[0].dump_stats(f"{args.profile}.main")
        profiles[1].dump_stats(f"{args.profile}.bus")


# -- the sender process ----------------------------------------------------------------------

SENDER_BODY = b"x" * 1024
SENDER_HEADERS = [
    (b"content-type", b"application/octet-stream"),
    (b"content-length", b"%d" % len(SENDER_BODY)),
    (b"cache-control", b"no-store"),
    (b"date", b"Wed, 25 Nov 2026 12:00:00 GMT"),
    (b"server", b"uvicorn"),
    (b"x-request-id", b"4f0c2b9e"),
]
EVENTS_PER_EXCHANGE = 5
"""What ASGI capture records for a GET: RequestStarted, RequestBodyChunk (empty),
ResponseStarted, ResponseBodyChunk (1 KiB), ExchangeFinished."""


async def kib_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": SENDER_HEADERS})
    await send({"type": "http.response.body", "body": SENDER_BODY})


def sender_scope() -> dict[str, Any]:
    from bench.capture import asgi_scope

    scope = asgi_scope("GET")  # 8 headers, as uvicorn makes them
    scope["headers"] += [
        (b"referer", b"http://127.0.0.1:8000/items"),
        (b"accept-language", b"en-US,en;q=0.9"),
    ]
    return scope


def run_sender(args: argparse.Namespace) -> None:
    bus = EventBus()
    sink = Sink(wire.parse_address(args.address), name=f"sender-{args.index}")
    sink.attach(bus)
    app = ASGIInspectorMiddleware(kib_app, bus=bus)
    scope = sender_scope()
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        pass

    per_second = args.rate / EVENTS_PER_EXCHANGE  # exchanges; 0: as fast as we can

    async def produce() -> int:
        done = 0
        while time.time() < args.start_at:
            await asyncio.sleep(0.005)
        start = time.monotonic()
        end = start + args.seconds
        while True:
            now = time.monotonic()
            if now >= end:
                return done
            due = int((now - start) * per_second) if per_second else done + 50
            if due <= done:
                await asyncio.sleep(0.002)
                continue
            for _ in range(min(due - done, 500)):  # catch up in slices
                await app(dict(scope), receive, send)
                done += 1

    cpu = time.process_time()
    exchanges = asyncio.run(produce())
    produced_cpu = time.process_time() - cpu
    bus.flush(30)
    sink.close(30)
    assert sink._thread is not None
    stats = bus.stats()
    print(
        json.dumps(
            {
                "exchanges": exchanges,
                "recorded": exchanges * EVENTS_PER_EXCHANGE,
                "bus_dropped": stats.dropped,
                "sink_sent": sink.sent,
                "sink_dropped": sink.dropped,
                "sink_error": sink.last_error,
                "sink_done": not sink._thread.is_alive(),
                "cpu": time.process_time() - cpu,
                "cpu_producing": produced_cpu,
            }
        ),
        flush=True,
    )


def exchange_template() -> list[bytes]:
    """The wire lines of one exchange as capture makes it, its id replaced by `{xid}`."""
    from inspector import codec

    got: list[Event] = []
    bus = EventBus()
    bus.subscribe(got.extend)
    app = ASGIInspectorMiddleware(kib_app, bus=bus)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    asyncio.run(app(sender_scope(), receive, send))
    bus.close()
    assert len(got) == EVENTS_PER_EXCHANGE, got
    xid = got[0].exchange_id.encode()
    return [codec.dumps(event).encode().replace(xid, b"{xid}") + b"\n" for event in got]


def run_replay(args: argparse.Namespace) -> None:
    """Pre-encoded lines of fresh exchanges, straight onto the wire (no capture, no codec):
    the least CPU a sender can spend, so a collector's own ceiling shows."""
    template = b"".join(exchange_template())
    prefix = secrets.token_hex(6)
    sock = wire.connect(wire.parse_address(args.address), timeout=30)
    sock.sendall(
        wire.hello(prefix, socket.gethostname(), os.getpid(), f"replay-{args.index}", None)
    )
    if b"welcome" not in sock.makefile("rb").readline():
        raise SystemExit("the collector refused the replay sender")
    per_second = args.rate / EVENTS_PER_EXCHANGE
    chunk = 100  # exchanges per sendall
    done = 0
    while time.time() < args.start_at:
        time.sleep(0.005)
    cpu = time.process_time()
    start = time.monotonic()
    end = start + args.seconds
    while (now := time.monotonic()) < end:
        if per_second and done >= (now - start) * per_second:
            time.sleep(0.002)
            continue
        data = b"".join(
            template.replace(b"{xid}", b"%s-%d" % (prefix.encode(), n))
            for n in range(done + 1, done + chunk + 1)
        )
        sock.sendall(data)
        done += chunk
    sock.close()
    events = done * EVENTS_PER_EXCHANGE
    print(
        json.dumps(
            {
                "exchanges": done,
                "recorded": events,
                "bus_dropped": 0,
                "sink_sent": events,
                "sink_dropped": 0,
                "sink_error": None,
                "cpu": time.process_time() - cpu,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    collector = commands.add_parser("collector", help="Collector -> EventBus -> Store")
    collector.add_argument("address")
    collector.add_argument("--max-exchanges", type=int, default=DEFAULT_MAX_EXCHANGES)
    collector.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    collector.add_argument("--profile", metavar="PREFIX", help="cProfile both threads")
    sender = commands.add_parser("sender", help="capture events streamed by a Sink")
    replay = commands.add_parser("replay", help="pre-encoded events straight onto the wire")
    for command in (sender, replay):
        command.add_argument("address")
        command.add_argument("--rate", type=float, default=0.0, help="events/s; 0: unpaced")
        command.add_argument("--seconds", type=float, default=5.0)
        command.add_argument("--start-at", type=float, default=0.0, help="time.time() to start")
        command.add_argument("--index", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        if args.command == "collector":
            serve_collector(args)
        elif args.command == "sender":
            run_sender(args)
        else:
            run_replay(args)


if __name__ == "__main__":
    main()
