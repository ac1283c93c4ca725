"""``python -m ferrosock COMMAND``: ``bench`` compares ferrosock with the stdlib, ``serve``
runs an echo server."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


def _bench(argv: Sequence[str]) -> int:
    from ferrosock.bench import main

    return main(argv)


def _serve(argv: Sequence[str]) -> int:
    from ferrosock.server import serve_main

    return serve_main(argv)


COMMANDS: dict[str, tuple[Callable[[Sequence[str]], int], str]] = {
    "bench": (_bench, "compare ferrosock with the stdlib (see --help)"),
    "serve": (_serve, "run an echo server: serve --echo HOST:PORT [--framing ...]"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"} or args[0] not in COMMANDS:
        print("usage: python -m ferrosock COMMAND [options]\n\ncommands:")
        for name, (_, summary) in COMMANDS.items():
            print(f"  {name:8} {summary}")
        return 0 if not args or args[0] in {"-h", "--help"} else 2
    command, _ = COMMANDS[args[0]]
    return command(args[1:])


if __name__ == "__main__":
    sys.exit(main())
