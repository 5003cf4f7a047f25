"""Serve a constant script until killed: `python -m parley_testkit.provider --tokens 50 --rate 50`.

The first line on stdout is the base URL (`http://127.0.0.1:PORT/v1`).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import signal
import sys
from collections.abc import Sequence

from parley_testkit.provider._script import Script
from parley_testkit.provider._server import FakeProvider

_WORDS = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m parley_testkit.provider")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--tokens", type=int, default=50, help="tokens per completion")
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second; 0 = no delay")
    parser.add_argument("--first-delay", type=float, default=0.0, help="seconds before the first token")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    script = Script(
        tokens=list(itertools.islice(itertools.cycle(_WORDS), args.tokens)),
        delay_s=1.0 / args.rate if args.rate > 0 else 0.0,
        first_delay_s=args.first_delay,
    )
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    # Blocked before the server thread starts, so only sigwait below receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    with FakeProvider(script, host=args.host, port=args.port) as provider:
        sys.stdout.write(provider.base_url + "\n")
        sys.stdout.flush()
        signal.sigwait(stop_signals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
