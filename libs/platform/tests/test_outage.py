import asyncio
from collections.abc import Awaitable, Callable

import pytest

from parley_platform.outage import Stopped, retry_while_unavailable


class Away(Exception):
    pass


def flaky(failures: int, exc: Exception) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def work() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise exc
        return "stored"

    return calls, work


async def test_the_work_is_tried_again_until_the_store_answers() -> None:
    calls, work = flaky(3, Away("down"))
    retries: list[int] = []
    result = await retry_while_unavailable(
        work,
        unavailable=(Away,),
        what="a completion",
        initial_s=0.001,
        max_s=0.004,
        on_retry=lambda: retries.append(1),
    )
    assert (result, len(calls), len(retries)) == ("stored", 4, 3)


async def test_another_error_is_not_an_outage() -> None:
    calls, work = flaky(1, ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        await retry_while_unavailable(
            work,
            unavailable=(Away,),
            what="x",
            initial_s=0.001,
            max_s=0.001,
        )
    assert len(calls) == 1


async def test_a_stop_ends_the_wait_and_says_so() -> None:
    stopping = asyncio.Event()
    calls, work = flaky(1_000, Away("down"))
    task = asyncio.create_task(
        retry_while_unavailable(
            work,
            unavailable=(Away,),
            what="x",
            initial_s=60,
            max_s=60,
            stopping=stopping,
        )
    )
    await asyncio.sleep(0.05)
    stopping.set()
    with pytest.raises(Stopped):
        await asyncio.wait_for(task, timeout=2)  # not after the 60 s backoff
    assert len(calls) == 2
