"""The cost of the sender check on the token path: decoding a session's `token.delta` as the
gateway's relay does, without the check (one shared credential, the baseline) and with every
service's broker user known, in one process, alternating, `--reps` times each.

    python bench/sender_check.py [--events 200000] [--reps 5]

Prints events/s of each and their ratio (checked / unchecked).
"""

from __future__ import annotations

import argparse
import time
import uuid

from parley_contracts import EventDecoder
from parley_contracts.senders import UNCHECKED, Senders
from parley_contracts.stream import SESSION_STREAM_EVENTS, TokenDelta

USERS = "auth=parley-auth,gateway=parley-gateway,history=parley-history,inference=parley-inference"


def rate(senders: Senders, body: bytes, events: int) -> float:
    decoder = EventDecoder(SESSION_STREAM_EVENTS)
    started = time.perf_counter()
    for _ in range(events):
        event = decoder.decode(body)
        senders.check(event.type, "parley-inference")
    return events / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    body = TokenDelta(message_id=uuid.uuid4(), attempt=0, seq=1, text="hello").to_json()
    checked = Senders.parse(USERS)
    unchecked_rates, checked_rates = [], []
    for _ in range(args.reps):
        unchecked_rates.append(rate(UNCHECKED, body, args.events))
        checked_rates.append(rate(checked, body, args.events))
    best_unchecked, best_checked = max(unchecked_rates), max(checked_rates)
    print(f"unchecked (baseline): {best_unchecked:,.0f} events/s")
    print(f"checked:              {best_checked:,.0f} events/s")
    print(f"ratio checked/unchecked: {best_checked / best_unchecked:.3f}")


if __name__ == "__main__":
    main()
