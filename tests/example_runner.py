"""Runs the programs in ``examples/`` the way a user does (``python examples/NAME.py ARGS``),
in subprocesses, and checks what they print.

Each example can run on two implementations: ``ferrosock`` (the example as written) and
``stdlib``, where a small shim makes ``import ferrosock`` hand back the stdlib modules
(``socket``, ``struct``, ``socketserver``, ``ipaddress``). The stdlib run proves the test's
expectations right; the ferrosock run proves the drop-in.

Servers are started with :func:`running`, which waits (bounded) for the line that says the
server is listening, and kills the process on the way out whatever happened.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
IMPLS = ("ferrosock", "stdlib")

# Makes `import ferrosock as socket`, `from ferrosock import struct` (and socketserver,
# ipaddress) resolve to the stdlib modules.
_STDLIB_SETUP = """\
import importlib, runpy, socket, sys, types
fake = types.ModuleType("ferrosock")
fake.__dict__.update({k: v for k, v in vars(socket).items() if not k.startswith("__")})
fake.__all__ = list(socket.__all__)
fake.__path__ = []
for name in ("struct", "socketserver", "ipaddress"):
    mod = importlib.import_module(name)
    setattr(fake, name, mod)
    sys.modules["ferrosock." + name] = mod
sys.modules["ferrosock"] = fake
"""

# Replaces the process's identity with `nobody` (the "client without access" of the
# Unix-domain permission example), after loading everything it needs while still root: the
# interpreter's modules (they may live under /root, which `nobody` cannot read) and the
# example's source (the checkout may be unreadable to `nobody` too).
_AS_NOBODY = """\
import argparse, locale, os, pkgutil, pwd, sys
argparse.ArgumentParser().parse_args([])  # argparse's lazy imports
sys.argv = sys.argv[1:]
with open(sys.argv[0], encoding="utf-8") as f:
    source = compile(f.read(), sys.argv[0], "exec")
nobody = pwd.getpwnam("nobody")
os.setgroups([])
os.setgid(nobody.pw_gid)
os.setuid(nobody.pw_uid)
exec(source, {"__name__": "__main__", "__file__": sys.argv[0], "__builtins__": __builtins__})
"""

_RUN = """\
import runpy, sys
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

#: How long any single example process may run before the test gives up on it.
PROCESS_TIMEOUT = 20.0
#: How long a server may take to print its "listening" line.
READY_TIMEOUT = 10.0


def env(tty: bool = False) -> dict[str, str]:
    e = dict(os.environ)
    if tty:
        e.pop("PYTHONUNBUFFERED", None)
    else:
        e["PYTHONUNBUFFERED"] = "1"
    e["PYTHONIOENCODING"] = "utf-8"
    e.pop("PYTHONSTARTUP", None)
    return e


def command(
    name: str, *args: str, impl: str = "ferrosock", as_nobody: bool = False, tty: bool = False
) -> list[str]:
    """The command line that runs ``examples/NAME.py ARGS`` on ``impl``."""
    path = str(EXAMPLES / f"{name}.py")
    assert Path(path).is_file(), path
    assert impl in IMPLS, impl
    python = [sys.executable] if tty else [sys.executable, "-u"]
    if impl == "ferrosock" and not as_nobody:
        return [*python, path, *args]
    code = _STDLIB_SETUP if impl == "stdlib" else "import ferrosock\n"
    code += _AS_NOBODY if as_nobody else _RUN
    return [*python, "-c", code, path, *args]


def run(
    name: str,
    *args: str,
    impl: str = "ferrosock",
    stdin_text: str | None = None,
    cwd: Path | None = None,
    returncode: int = 0,
    as_nobody: bool = False,
    tty: bool = False,
    timeout: float = PROCESS_TIMEOUT,
    stderr_sink: list[str] | None = None,
) -> str:
    """Runs an example to completion; checks its exit status and returns its stdout.

    ``tty=True`` gives it a terminal for stdout, as when a user runs it: Python then writes
    each printed line with one write(), so lines from several processes do not interleave
    (unbuffered, print() writes the text and the newline separately).
    ``stderr_sink``, a list, receives what the example wrote to stderr."""
    if tty:
        assert stdin_text is None
        return _run_on_tty(
            command(name, *args, impl=impl, as_nobody=as_nobody, tty=True),
            cwd or ROOT,
            returncode,
            timeout,
        )
    # Bytes, decoded here: text mode would also translate "\r\n" and "\r", which some
    # examples print as received.
    proc = subprocess.run(
        command(name, *args, impl=impl, as_nobody=as_nobody),
        input=None if stdin_text is None else stdin_text.encode("utf-8"),
        stdin=None if stdin_text is not None else subprocess.DEVNULL,
        capture_output=True,
        env=env(),
        cwd=cwd or ROOT,
        timeout=timeout,
    )
    out = proc.stdout.decode("utf-8")
    err = proc.stderr.decode("utf-8", "replace")
    if stderr_sink is not None:
        stderr_sink.append(err)
    assert proc.returncode == returncode, (
        f"{name} {args} exited {proc.returncode}, expected {returncode}\n"
        f"--- stdout\n{out}--- stderr\n{err}"
    )
    if returncode == 0:
        assert err == "", f"{name} wrote to stderr:\n{err}"
    return out


def _run_on_tty(cmd: list[str], cwd: Path, returncode: int, timeout: float) -> str:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=env(tty=True),
            cwd=cwd,
        )
        os.close(slave)
        slave = -1
        out = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                raise AssertionError(f"{cmd[-1]!r} still running after {timeout}s: {out!r}")
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError as e:  # EIO: every process holding the terminal has closed it
                if e.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            out += chunk
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        rc = proc.wait(timeout)
        if proc.stderr:
            proc.stderr.close()
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    text = out.decode("utf-8").replace("\r\n", "\n")  # the terminal's ONLCR
    assert rc == returncode, f"exited {rc}, expected {returncode}\n{text}--- stderr\n{err}"
    if returncode == 0:
        assert err == "", f"wrote to stderr:\n{err}"
    return text


class Running:
    """An example process whose output is collected line by line as it runs."""

    def __init__(self, cmd: list[str], cwd: Path | None, stdin: bool) -> None:
        self.cmd = cmd
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env(),
            cwd=cwd or ROOT,
            start_new_session=True,
        )  # binary pipes: read1() hands over prompts that end without a newline
        self._cond = threading.Condition()
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self._out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self._err), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _pump(self, stream, sink: list[str]) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")()
        while True:
            chunk = stream.read1(65536)
            text = decoder.decode(chunk, final=not chunk)
            with self._cond:
                sink.append(text)
                self._cond.notify_all()
            if not chunk:
                break

    @property
    def output(self) -> str:
        with self._cond:
            return "".join(self._out)

    @property
    def errors(self) -> str:
        with self._cond:
            return "".join(self._err)

    def wait_for(self, pattern: str, timeout: float = READY_TIMEOUT) -> re.Match[str]:
        """Waits until the output so far matches ``pattern`` (a regex, searched in
        MULTILINE mode); fails with the output so far if the process exits or time runs out."""
        rx = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search("".join(self._out))
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._readers_alive()):
                    break
                self._cond.wait(min(left, 0.1))
        raise AssertionError(
            f"{self.cmd[-1]!r}: no output matching {pattern!r} "
            f"(exit status {self.proc.poll()})\n--- stdout\n{self.output}--- stderr\n{self.errors}"
        )

    def wait_listening(self, port: int, timeout: float = READY_TIMEOUT) -> None:
        """Waits until some socket listens on TCP ``port`` (IPv4 or IPv6), for servers that
        print nothing before ``accept()``: connecting to probe them would use up the one
        connection they serve. Polls the kernel's table (``/proc/net/tcp*``), bounded."""
        deadline = time.monotonic() + timeout
        while not _tcp_listening(port):
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.cmd[-1]!r} exited ({self.proc.returncode}) before listening on "
                    f"{port}\n--- stdout\n{self.output}--- stderr\n{self.errors}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listening on port {port} after {timeout}s")
            time.sleep(0.02)

    def _readers_alive(self) -> bool:
        return any(t.is_alive() for t in self._readers)

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode("utf-8"))
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def wait(self, timeout: float = PROCESS_TIMEOUT) -> int:
        """Waits for the process to exit by itself; returns its exit status."""
        rc = self.proc.wait(timeout)
        for t in self._readers:
            t.join(timeout)
        return rc

    def interrupt(self, timeout: float = PROCESS_TIMEOUT) -> int:
        """Ctrl-C: sends SIGINT and waits (bounded) for the process to end; its exit status."""
        os.kill(self.proc.pid, signal.SIGINT)
        return self.wait(timeout)

    def stop(self) -> str:
        """Kills the process (servers never exit by themselves) and returns its stdout."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(PROCESS_TIMEOUT)
        for t in self._readers:
            t.join(PROCESS_TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return self.output


@contextlib.contextmanager
def running(
    name: str,
    *args: str,
    impl: str = "ferrosock",
    ready: str | None = None,
    listening: int | None = None,
    cwd: Path | None = None,
    stdin: bool = False,
    as_nobody: bool = False,
) -> Iterator[Running]:
    """Starts an example, waits for ``ready`` (a regex) in its output and/or for a listener
    on TCP port ``listening``, and kills it on exit."""
    proc = Running(command(name, *args, impl=impl, as_nobody=as_nobody), cwd, stdin)
    try:
        if ready is not None:
            proc.wait_for(ready)
        if listening is not None:
            proc.wait_listening(listening)
        yield proc
    finally:
        proc.stop()


def _tcp_listening(port: int) -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                # local_address is HEX_ADDR:HEX_PORT; state 0A is TCP_LISTEN
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    return True
    return False


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago on ``host`` (the kernel's pick for port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


Expected = str | re.Pattern[str]


def check_lines(actual: str, expected: Sequence[Expected]) -> None:
    """``actual`` has exactly the lines of ``expected``: a str line must be equal, a compiled
    pattern must match the whole line."""
    lines = actual.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    problems = []
    for i in range(max(len(lines), len(expected))):
        got = lines[i] if i < len(lines) else "<missing>"
        want = expected[i] if i < len(expected) else "<nothing>"
        ok = (
            i < len(lines)
            and i < len(expected)
            and (got == want if isinstance(want, str) else want.fullmatch(got) is not None)
        )
        if not ok:
            problems.append(f"line {i + 1}: got {got!r}, expected {want!r}")
    assert not problems, "\n".join(problems) + "\n--- actual output\n" + actual
