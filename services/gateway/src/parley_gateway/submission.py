"""Publishing a prompt for a session whose relay expects its answer: the socket's and `/v1`'s
one way, so that a refused or failed prompt is never left expected and every outcome is counted."""

from __future__ import annotations

from parley_gateway.bootstrap import Gateway
from parley_gateway.domain.errors import GatewayError
from parley_gateway.relay import SessionRelay
from parley_gateway.services import prompts


async def submit_expected(
    command: prompts.SubmitPrompt, *, relay: SessionRelay, gateway: Gateway
) -> prompts.Accepted:
    """Publish `command`'s prompt, `relay` expecting its answer; `GatewayError` when refused."""
    relay.expect(command.message_id)
    try:
        accepted = await prompts.submit_prompt(
            command,
            publisher=gateway.publisher,
            registry=gateway.registry,
            rate=gateway.rate,
            generations=gateway.generations,
            blocked=gateway.blocked,
        )
    except GatewayError as error:
        relay.discard(command.message_id)
        gateway.metrics.prompts.labels(outcome=str(error.code)).inc()
        raise
    except BaseException:
        relay.discard(command.message_id)
        raise
    gateway.metrics.prompts.labels(outcome="accepted").inc()
    return accepted
