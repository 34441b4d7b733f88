"""The observer as a child process: how `inspect-proxy` and `inspector demo` keep the viewer,
the headless printer and the session writer out of the process that serves the traffic.

`ObserverChild` starts `inspector listen` (the very same command a user runs) on a private
Unix socket in a 0700 directory of its own; the hot process streams its records there through a
`Sink`. The child quits the viewer with `q` by telling the hot process to stop (a control
message on that socket); if the child dies otherwise the hot process keeps relaying and says so
once on stderr; if the hot process dies, the child notices its parent is gone and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from inspector import wire
from inspector.sink import Sink


class ObserverChild:
    def __init__(self, args: argparse.Namespace, *, name: str, on_stop: Callable[[], None]):
        """`args`: the output flags (`--no-tui`, `--save`, `--redact`, `--filter`, the store's
        limits) to pass on; `on_stop` runs (on the sink's thread) when the viewer asks the hot
        process to stop. The sink exists (and buffers) at once; the child starts with
        `start()`."""
        self._args = args
        self._directory = tempfile.mkdtemp(prefix="inspector-")  # 0700: ours alone
        self.address = wire.Address("unix", path=os.path.join(self._directory, "observer.sock"))
        self.control_path = os.path.join(self._directory, "control.sock")
        """Where the hot process's `ControlServer` listens (0600 in this 0700 directory), if it
        starts one: the viewer's only way to act on traffic (see `inspector.proxy.control`)."""
        self.stopping = False
        self._on_stop = on_stop
        self.process: subprocess.Popen[bytes] | None = None
        self.sink = Sink(self.address, name=name, on_control=self._control)

    def start(
        self,
        title: str,
        subtitle: str,
        replay_base: str | None,
        log: str | None = None,
        control: bool = False,
    ) -> None:
        """`log`: the file the hot process's output goes to, which the viewer can show;
        `control`: the hot process listens on `control_path` (the viewer may act)."""
        args = self._args
        command = [sys.executable, "-m", "tui", "listen", "--bus", str(self.address)]
        command += ["--parent", str(os.getpid()), "--title", title, "--subtitle", subtitle]
        if replay_base:
            command += ["--replay-base", replay_base]
        if log:
            command += ["--log", log]
        if control:
            command += ["--control", self.control_path]
        if args.no_tui:
            command.append("--no-tui")
        if args.save:
            command += ["--save", args.save]
        if args.redact:
            command.append("--redact")
        if args.filter:
            command += ["--filter", args.filter]
        command += ["--store-exchanges", str(args.store_exchanges)]
        command += ["--store-mib", str(args.store_mib)]
        command += ["--ws-keep-mib", str(args.ws_keep_mib)]
        command += ["--ws-keep-total-mib", str(args.ws_keep_total_mib)]
        from tui.otlp import child_flags

        otlp_flags, otlp_env = child_flags(args)
        command += otlp_flags
        env = {**os.environ, "INSPECTOR_TOKEN": "", **otlp_env}
        self.process = subprocess.Popen(command, env=env)
        watch = threading.Thread(target=self._watch, args=(self.process,), daemon=True)
        watch.start()

    def _control(self, message: dict[str, Any]) -> None:
        if message.get("control") == "stop":
            self.stopping = True
            self._on_stop()

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        status = process.wait()
        if not self.stopping:
            print(
                f"inspector: the viewer exited (status {status}); still relaying, keeping at "
                f"most {self.sink.buffer.capacity} records for no one",
                file=sys.stderr,
                flush=True,
            )

    def close(self, timeout: float = 5.0) -> None:
        """Let the child take what was recorded, then stop it and clean up."""
        self.stopping = True
        process = self.process
        if process is not None and process.poll() is None:
            self.sink.flush(timeout)
        self.sink.close()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(OSError):
            shutil.rmtree(self._directory)
