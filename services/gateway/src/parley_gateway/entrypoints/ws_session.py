"""The I/O of a socket's attached session: its relay, and the prompts and stops
published for it (`Submit` and `Cancel` steps of `domain.socket_session`)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from parley_gateway.bootstrap import Gateway
from parley_gateway.domain.frames import accepted_frame
from parley_gateway.domain.sessions import resync_request_id
from parley_gateway.domain.socket_steps import Cancel, Submit
from parley_gateway.entrypoints.ws_writer import SocketWriter
from parley_gateway.relay import MessageCallback, SessionRelay
from parley_gateway.services import prompts, snapshots
from parley_gateway.submission import submit_expected
from parley_platform.telemetry import log_context

# WebSocket frames have no instrumentation library: a prompt's trace starts here, and the
# broker middleware carries it on with `prompt.submitted`.
_tracer = trace.get_tracer(__name__)


def new_relay(
    session_id: UUID,
    *,
    gateway: Gateway,
    sink: SocketWriter,
    on_started: MessageCallback,
    on_ended: MessageCallback,
    issued: Callable[[UUID], bool],
    on_superseded: Callable[[], None],
) -> SessionRelay:
    settings = gateway.settings

    async def request_resync() -> None:
        await snapshots.request_snapshots(
            session_id, publisher=gateway.publisher, registry=gateway.registry, request_id=resync_request_id()
        )

    return SessionRelay(
        session_id,
        sink=sink,
        senders=settings.senders,
        clock=gateway.clock,
        snapshot_wait_s=settings.snapshot_wait_s,
        resync_interval_s=settings.resync_interval_s,
        request_resync=request_resync,
        on_started=on_started,
        on_ended=on_ended,
        issued=issued,
        on_superseded=on_superseded,
    )


async def submit(step: Submit, *, relay: SessionRelay, gateway: Gateway, out: SocketWriter) -> None:
    """Publish the prompt and send `accepted`; `GatewayError` when it is refused."""
    command = prompts.SubmitPrompt(step.principal, step.session_id, step.prompt, message_id=step.message_id)
    attributes = {
        "parley.session_id": str(step.session_id),
        "parley.message_id": str(command.message_id),
        "parley.model": step.prompt.model,
    }
    # A refused prompt (GatewayError) leaves the span with an error status and the reason.
    with (
        _tracer.start_as_current_span("ws prompt", kind=SpanKind.SERVER, attributes=attributes),
        log_context(message_id=command.message_id),
    ):
        await _submit(command, relay=relay, gateway=gateway, out=out)


async def _submit(
    command: prompts.SubmitPrompt, *, relay: SessionRelay, gateway: Gateway, out: SocketWriter
) -> None:
    accepted = await submit_expected(command, relay=relay, gateway=gateway)
    out.accepted(accepted.message_id)
    await out.send(
        accepted_frame(
            accepted.request_id, accepted.conversation_id, accepted.message_id, accepted.prompt_message_id
        )
    )
    relay.accepted(accepted.message_id)


async def stop(step: Cancel, *, relay: SessionRelay, gateway: Gateway) -> None:
    await prompts.stop_generation(
        step.principal,
        step.message_id,
        running=relay.is_running(step.message_id),
        publisher=gateway.publisher,
    )
