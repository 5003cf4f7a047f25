"""One `/ws` socket's session, without the socket (docs/architecture.md section 7).

`SocketSession` is told what happened: a client frame, the outcome of a step it asked for
(a verified token, a session queue that is gone, a session attached), or an event (the
token expired, the account's access changed, another socket took the session over). It
answers with steps (`socket_steps`), plain values the edge (`entrypoints/ws.py`) performs in order: frames
to send, refusals, a close, and the I/O to do (verify a token, attach or detach a session,
publish a prompt or a stop). Which close code a refusal becomes is the edge's business.

    awaiting_hello --hello, verified--> authenticated --attached--> attached
                                              ^                        |
                                              +------- detached -------+  (a resume, a take-over)

`closing` is apart from the phase: once the edge starts closing, it sends nothing more,
whatever the phase.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any
from uuid import UUID

from parley_contracts import new_id
from parley_gateway.domain.auth import Principal
from parley_gateway.domain.errors import (
    AuthUnavailable,
    CredentialRefused,
    ErrorCode,
    GatewayError,
    SessionForbidden,
    SessionTakenOver,
)
from parley_gateway.domain.frames import (
    ClientFrame,
    Hello,
    Ping,
    Prompt,
    Resume,
    Stop,
    parse_frame,
    pong_frame,
    ready_frame,
)
from parley_gateway.domain.limits import EventWindow
from parley_gateway.domain.sessions import new_owned_id, new_session_id, owns
from parley_gateway.domain.socket_steps import (
    Attach,
    Cancel,
    Close,
    Detach,
    ExpireAt,
    Refuse,
    Send,
    Step,
    Submit,
    Verify,
)
from parley_gateway.domain.stream import StreamFrame


class Phase(StrEnum):
    AWAITING_HELLO = "awaiting_hello"
    AUTHENTICATED = "authenticated"
    """The token is verified and no session is attached: not yet, or not any more."""
    ATTACHED = "attached"


def _not_attached() -> Refuse:
    return Refuse(GatewayError(ErrorCode.NOT_AUTHENTICATED, "no session is attached to this socket"))


_ENDS_THE_SOCKET = (CredentialRefused, AuthUnavailable)
"""Refusals of a frame that close the socket: its credential cannot be checked or trusted."""


class SocketSession:
    def __init__(
        self,
        *,
        max_frame_bytes: int,
        hello_timeout_s: float,
        leeway_s: float,
        socket_resumes: EventWindow,
        user_resumes: EventWindow,
        check_access: Callable[[Principal], Principal],
    ) -> None:
        """`user_resumes` is shared by the user's sockets; `check_access` is what the
        account's access allows of a principal now (`AccountAccess.check`)."""
        self._max_frame_bytes = max_frame_bytes
        self._hello_timeout_s = hello_timeout_s
        self._leeway_s = leeway_s
        self._socket_resumes = socket_resumes
        self._user_resumes = user_resumes
        self._check_access = check_access
        self.phase = Phase.AWAITING_HELLO
        self.principal: Principal | None = None
        self.session_id: UUID | None = None
        """The session attached last (kept after a detach, for the logs)."""
        self.closing = False
        self._taken_over = False
        self._seq = 0
        self._requests: set[UUID] = set()

    # Client frames.

    def on_frame(self, data: str | bytes | None, binary: bool) -> list[Step]:
        try:
            frame = parse_frame(data, max_bytes=self._max_frame_bytes, binary=binary)
        except GatewayError as error:
            return [Refuse(error)]
        if self.phase is Phase.AWAITING_HELLO:
            return self._before_hello(frame)
        if isinstance(frame, Ping):
            return [Send(pong_frame())]
        if isinstance(frame, Prompt):
            return self._prompt(frame)
        if isinstance(frame, Stop):
            return self._stop(frame)
        if isinstance(frame, Resume):
            return self._resume(frame.session_id, frame.last_seq)
        return [Verify(frame)]

    def _before_hello(self, frame: ClientFrame) -> list[Step]:
        if isinstance(frame, Hello):
            return [Verify(frame)]
        error = GatewayError(
            ErrorCode.NOT_AUTHENTICATED,
            "send a 'hello' frame with an access token first",
            request_id=getattr(frame, "request_id", None),
            message_id=getattr(frame, "message_id", None),
        )
        return [Refuse(error)]

    def _prompt(self, prompt: Prompt) -> list[Step]:
        principal, session_id = self.principal, self.session_id
        if self.phase is not Phase.ATTACHED or principal is None or session_id is None:
            return [_not_attached()]
        return [Submit(principal, session_id, prompt, new_owned_id(principal.user_id))]

    def _stop(self, stop: Stop) -> list[Step]:
        if self.phase is not Phase.ATTACHED or self.principal is None:
            return [_not_attached()]
        return [Cancel(self.principal, stop.message_id)]

    def failed(self, error: GatewayError) -> list[Step]:
        """A frame was refused while its steps ran."""
        return [Close(error)] if isinstance(error, _ENDS_THE_SOCKET) else [Refuse(error)]

    # The hello.

    def hello_timed_out(self) -> list[Step]:
        return [
            Close(
                CredentialRefused(ErrorCode.HELLO_TIMEOUT, f"no 'hello' within {self._hello_timeout_s:g} s")
            )
        ]

    def refused(self, error: GatewayError) -> list[Step]:
        """The `hello`'s token was refused (or could not be checked)."""
        return [Close(error)]

    def verified(self, hello: Hello, principal: Principal) -> list[Step]:
        """The first `hello`, or a later one that renews the token (same user)."""
        first = self.principal is None
        if self.principal is not None and principal.user_id != self.principal.user_id:
            return [
                Close(
                    CredentialRefused(
                        ErrorCode.INVALID_TOKEN, "the token is for another user than this socket's"
                    )
                )
            ]
        self.principal = principal
        if self.phase is Phase.AWAITING_HELLO:
            self.phase = Phase.AUTHENTICATED
        steps: list[Step] = [ExpireAt(principal.expires_at + self._leeway_s)]
        if not first:
            if hello.session_id is not None and hello.session_id != self.session_id:
                return steps + self._resume(hello.session_id, hello.last_seq)
            if self.session_id is not None:
                steps.append(Send(ready_frame(self.session_id)))
            return steps
        if hello.session_id is None:
            return [*steps, Attach(new_session_id(principal.user_id), None, resume=False)]
        try:
            self._admit_resume(hello.session_id)
        except GatewayError as error:
            # A first `hello` has no session to stay on: another user's, or too many resumes.
            return [*steps, Close(error)]
        return [*steps, Attach(hello.session_id, hello.last_seq, resume=True)]

    # Sessions.

    def _resume(self, session_id: UUID, last_seq: int | None) -> list[Step]:
        """A `resume` (or a later `hello` with another session): refused, or this session."""
        try:
            self._admit_resume(session_id)
        except GatewayError as error:
            return [Refuse(error)]
        return [Detach(), Attach(session_id, last_seq, resume=True)]

    def _admit_resume(self, session_id: UUID) -> None:
        """Refuse another user's session; count a resume against this socket and its user, and
        refuse it (rate_limited) past either limit: each resume asks every worker and gateway
        for snapshots."""
        assert self.principal is not None
        if not owns(session_id, self.principal.user_id):
            raise SessionForbidden("this session belongs to another user")
        wait = self._socket_resumes.try_take("socket")
        if wait is None:
            wait = self._user_resumes.try_take(self.principal.user_id)
        if wait is not None:
            raise GatewayError(
                ErrorCode.RATE_LIMITED, f"too many session resumes; try again in {max(wait, 0.1):.1f} s"
            )

    def nothing_to_resume(self) -> Attach:
        """The session's queue is gone (it outlives its socket for minutes only) or never was:
        nothing is declared for an id the client made up. A new session instead."""
        assert self.principal is not None
        return Attach(new_session_id(self.principal.user_id), None, resume=False)

    def attached(self, attach: Attach) -> list[Step]:
        """The session's queue is consumed: the stream frames go on from `last_seq`."""
        self.phase = Phase.ATTACHED
        self.session_id = attach.session_id
        self._seq = attach.last_seq or 0
        return [Send(ready_frame(attach.session_id))]

    def attach_failed(self) -> list[Step]:
        """The broker would not let the session's queue be consumed."""
        return [
            Close(
                GatewayError(
                    ErrorCode.BROKER_UNAVAILABLE, "the message broker is unavailable; reconnect later"
                )
            )
        ]

    def detached(self) -> None:
        self.phase = Phase.AUTHENTICATED

    def snapshot_request(self) -> UUID:
        """A request id for a resume's snapshot request, known as this socket's own."""
        request_id = new_id()
        self._requests.add(request_id)
        return request_id

    def issued(self, request_id: UUID) -> bool:
        return request_id in self._requests

    def number(self, frame: StreamFrame) -> dict[str, Any]:
        """The frame on the wire, with the session's next seq."""
        self._seq += 1
        return frame.to_wire(self._seq)

    # Events.

    def token_expired(self) -> list[Step]:
        return [Close(CredentialRefused(ErrorCode.TOKEN_EXPIRED, "the access token has expired"))]

    def access_changed(self) -> list[Step]:
        """Check the token against the account's access now (its role is capped to the
        account's); a close when it no longer counts. Nothing while closing."""
        if self.principal is None or self.closing:
            return []
        try:
            self.principal = self._check_access(self.principal)
        except GatewayError as error:
            return [Close(error)]
        return []

    def taken_over(self) -> list[Step]:
        """Another socket resumed the session: let it go and close (once)."""
        if self._taken_over:
            return []
        self._taken_over = True
        return [Detach(), Close(SessionTakenOver("this session was resumed by another connection"))]

    def begin_close(self) -> bool:
        """The edge closes the socket: True the first time only."""
        if self.closing:
            return False
        self.closing = True
        return True
