"""A socket's session without a socket: the hello, attaching and resuming sessions, a
take-over, expiry, access changes, each client frame, refusals and the close codes."""

from __future__ import annotations

from uuid import UUID, uuid4

import orjson
import pytest

from parley_gateway.domain.auth import Principal
from parley_gateway.domain.errors import (
    AuthUnavailable,
    CredentialRefused,
    ErrorCode,
    GatewayError,
    SessionForbidden,
    SessionTakenOver,
)
from parley_gateway.domain.frames import Hello
from parley_gateway.domain.limits import EventWindow
from parley_gateway.domain.sessions import new_session_id, owns
from parley_gateway.domain.socket_session import Phase, SocketSession
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
from parley_gateway.domain.stream import DeltaFrame
from parley_gateway.entrypoints.close_codes import close_code
from tests.fakes import FakeClock

ALICE = Principal("alice", "user", expires_at=2_000_000_000.0)
MESSAGE = "c3a0e6f4-5d3b-4c55-9a3e-0f1d2b3c4d5e"


class Access:
    """The accounts an admin disabled."""

    def __init__(self) -> None:
        self.disabled: set[str] = set()

    def check(self, principal: Principal) -> Principal:
        if principal.user_id in self.disabled:
            raise CredentialRefused(ErrorCode.ACCOUNT_DISABLED, "the account is disabled")
        return principal


def socket(
    *,
    access: Access | None = None,
    per_socket: int = 10,
    per_user: int = 30,
    clock: FakeClock | None = None,
    user_resumes: EventWindow | None = None,
) -> SocketSession:
    """`user_resumes`: a window shared with the user's other sockets (else one of `per_user`)."""
    clock = clock or FakeClock()
    return SocketSession(
        max_frame_bytes=1024,
        hello_timeout_s=10,
        leeway_s=5,
        socket_resumes=EventWindow(per_socket, clock=clock),
        user_resumes=user_resumes or EventWindow(per_user, clock=clock),
        check_access=(access or Access()).check,
    )


def frame(**fields: object) -> str:
    return orjson.dumps(fields).decode()


def hello(session_id: UUID | None = None, last_seq: int | None = None) -> Hello:
    return Hello(type="hello", token="t", session_id=session_id, last_seq=last_seq)


def prompt() -> str:
    return frame(type="prompt", request_id="r-1", model="m", messages=[{"role": "user", "content": "Hi"}])


def attach_of(steps: list[Step]) -> Attach:
    attach = steps[-1]
    assert isinstance(attach, Attach)
    return attach


def attached(*, access: Access | None = None, per_socket: int = 10) -> SocketSession:
    """A socket whose first `hello` opened a new session of alice's."""
    session = socket(access=access, per_socket=per_socket)
    session.attached(attach_of(session.verified(hello(), ALICE)))
    return session


def refusal(steps: list[Step]) -> GatewayError:
    assert len(steps) == 1
    assert isinstance(steps[0], Refuse)
    return steps[0].error


def closing(steps: list[Step]) -> GatewayError:
    assert isinstance(steps[-1], Close)
    return steps[-1].error


# The hello.


def test_frames_before_hello_are_refused_with_their_ids_and_the_hello_is_verified() -> None:
    session = socket()
    error = refusal(session.on_frame(prompt(), False))
    assert (error.code, error.request_id) == (ErrorCode.NOT_AUTHENTICATED, "r-1")
    error = refusal(session.on_frame(frame(type="stop", message_id=MESSAGE), False))
    assert (error.code, str(error.message_id)) == (ErrorCode.NOT_AUTHENTICATED, MESSAGE)
    assert refusal(session.on_frame("{", False)).code == ErrorCode.INVALID_JSON
    assert refusal(session.on_frame(b"{}", True)).code == ErrorCode.BINARY_FRAME
    assert session.on_frame(frame(type="hello", token="t"), False) == [Verify(hello())]
    assert session.phase is Phase.AWAITING_HELLO


def test_a_hello_opens_a_new_session_of_the_user() -> None:
    session = socket()
    steps = session.verified(hello(), ALICE)
    assert steps[0] == ExpireAt(ALICE.expires_at + 5)
    attach = attach_of(steps)
    assert (attach.last_seq, attach.resume) == (None, False)
    assert owns(attach.session_id, "alice")
    assert session.attached(attach) == [Send({"type": "ready", "session_id": str(attach.session_id)})]
    assert (session.phase, session.session_id) == (Phase.ATTACHED, attach.session_id)
    assert session.number(DeltaFrame(uuid4(), "a"))["seq"] == 1


def test_a_hello_resumes_an_earlier_session_and_its_seq_goes_on() -> None:
    session, earlier = socket(), new_session_id("alice")
    attach = attach_of(session.verified(hello(earlier, last_seq=7), ALICE))
    assert attach == Attach(earlier, 7, resume=True)
    session.attached(attach)
    assert session.number(DeltaFrame(uuid4(), "a"))["seq"] == 8
    own = session.snapshot_request()
    assert session.issued(own)
    assert not session.issued(uuid4())


def test_a_session_whose_queue_is_gone_is_a_new_one() -> None:
    session = socket()
    session.verified(hello(new_session_id("alice"), last_seq=7), ALICE)
    fresh = session.nothing_to_resume()
    assert (fresh.last_seq, fresh.resume) == (None, False)
    assert owns(fresh.session_id, "alice")


def test_a_hello_with_another_users_session_closes_4403() -> None:
    error = closing(socket().verified(hello(new_session_id("bob")), ALICE))
    assert isinstance(error, SessionForbidden)
    assert (error.code, close_code(error)) == (ErrorCode.SESSION_FORBIDDEN, 4403)


def test_a_hello_past_the_resume_limits_closes_1013() -> None:
    clock = FakeClock()
    shared = EventWindow(1, clock=clock)
    first, second = socket(clock=clock, user_resumes=shared), socket(clock=clock, user_resumes=shared)
    assert attach_of(first.verified(hello(new_session_id("alice")), ALICE)).resume
    error = closing(second.verified(hello(new_session_id("alice")), ALICE))
    assert (error.code, close_code(error)) == (ErrorCode.RATE_LIMITED, 1013)
    assert "try again in 60.0 s" in error.message


def test_a_refused_token_closes_with_its_reason() -> None:
    session = socket()
    expired = CredentialRefused(ErrorCode.TOKEN_EXPIRED, "expired")
    assert session.refused(expired) == [Close(expired)]
    assert close_code(expired) == 4401
    assert close_code(AuthUnavailable("no keys")) == 1013


def test_no_hello_in_time_closes_4401() -> None:
    error = closing(socket().hello_timed_out())
    assert (error.code, error.message, close_code(error)) == (
        ErrorCode.HELLO_TIMEOUT,
        "no 'hello' within 10 s",
        4401,
    )


def test_a_later_hello_renews_the_token_on_the_same_session() -> None:
    session = attached()
    renewed = Principal("alice", "user", expires_at=ALICE.expires_at + 900)
    steps = session.verified(hello(session.session_id), renewed)
    assert steps == [
        ExpireAt(renewed.expires_at + 5),
        Send({"type": "ready", "session_id": str(session.session_id)}),
    ]
    assert session.principal == renewed


def test_a_later_hello_with_another_session_resumes_it() -> None:
    session, other = attached(), new_session_id("alice")
    steps = session.verified(hello(other, last_seq=3), ALICE)
    assert steps == [ExpireAt(ALICE.expires_at + 5), Detach(), Attach(other, 3, resume=True)]


def test_a_later_hello_of_another_user_closes_4401() -> None:
    session = attached()
    error = closing(session.verified(hello(), Principal("bob", "user", expires_at=ALICE.expires_at)))
    assert (error.code, close_code(error)) == (ErrorCode.INVALID_TOKEN, 4401)
    assert session.principal == ALICE


# Client frames on an attached session.


def test_ping_gets_pong() -> None:
    assert attached().on_frame(frame(type="ping"), False) == [Send({"type": "pong"})]


def test_a_prompt_is_submitted_with_a_message_id_of_the_user() -> None:
    session = attached()
    (submit,) = session.on_frame(prompt(), False)
    assert isinstance(submit, Submit)
    assert (submit.principal, submit.session_id, submit.prompt.request_id) == (
        ALICE,
        session.session_id,
        "r-1",
    )
    assert owns(submit.message_id, "alice")


def test_a_stop_cancels_the_message() -> None:
    assert attached().on_frame(frame(type="stop", message_id=MESSAGE), False) == [
        Cancel(ALICE, UUID(MESSAGE))
    ]


def test_a_resume_frame_detaches_then_attaches_the_session() -> None:
    session, other = attached(), new_session_id("alice")
    steps = session.on_frame(frame(type="resume", session_id=str(other), last_seq=4), False)
    assert steps == [Detach(), Attach(other, 4, resume=True)]


def test_a_refused_resume_frame_keeps_the_socket_open() -> None:
    session = attached(per_socket=1)
    foreign = refusal(session.on_frame(frame(type="resume", session_id=str(new_session_id("bob"))), False))
    assert foreign.code == ErrorCode.SESSION_FORBIDDEN
    own = frame(type="resume", session_id=str(new_session_id("alice")))
    assert session.on_frame(own, False)[0] == Detach()
    assert refusal(session.on_frame(own, False)).code == ErrorCode.RATE_LIMITED


def test_prompts_and_stops_need_an_attached_session() -> None:
    session = attached()
    session.detached()
    assert refusal(session.on_frame(prompt(), False)).code == ErrorCode.NOT_AUTHENTICATED
    assert refusal(session.on_frame(frame(type="stop", message_id=MESSAGE), False)).code == (
        ErrorCode.NOT_AUTHENTICATED
    )


def test_bad_frames_are_refused_and_the_socket_stays_open() -> None:
    session = attached()
    assert refusal(session.on_frame(frame(type="nope"), False)).code == ErrorCode.UNKNOWN_TYPE
    assert refusal(session.on_frame("x" * 2000, False)).code == ErrorCode.FRAME_TOO_LARGE
    assert session.phase is Phase.ATTACHED


def test_a_frame_refused_while_running_closes_only_for_its_credential() -> None:
    session = attached()
    refused = GatewayError(ErrorCode.QUOTA_EXCEEDED, "over", request_id="r-1")
    assert session.failed(refused) == [Refuse(refused)]
    revoked = CredentialRefused(ErrorCode.TOKEN_REVOKED, "sign in again")
    assert session.failed(revoked) == [Close(revoked)]
    unavailable = AuthUnavailable("no keys")
    assert session.failed(unavailable) == [Close(unavailable)]


# Events.


def test_an_expired_token_closes_4401() -> None:
    error = closing(attached().token_expired())
    assert (error.code, close_code(error)) == (ErrorCode.TOKEN_EXPIRED, 4401)


def test_an_access_change_closes_a_disabled_accounts_socket_only() -> None:
    access = Access()
    session = attached(access=access)
    assert session.access_changed() == []
    access.disabled.add("alice")
    error = closing(session.access_changed())
    assert (error.code, close_code(error)) == (ErrorCode.ACCOUNT_DISABLED, 4401)
    assert session.begin_close()
    assert session.access_changed() == []  # closing already


def test_before_the_hello_an_access_change_does_nothing() -> None:
    assert socket().access_changed() == []


def test_a_take_over_detaches_and_closes_4409_once() -> None:
    session = attached()
    steps = session.taken_over()
    assert steps[0] == Detach()
    error = closing(steps)
    assert isinstance(error, SessionTakenOver)
    assert (error.code, close_code(error)) == (ErrorCode.SESSION_TAKEN_OVER, 4409)
    assert session.taken_over() == []


def test_closing_begins_once() -> None:
    session = attached()
    assert session.begin_close()
    assert session.closing
    assert not session.begin_close()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (CredentialRefused(ErrorCode.INVALID_TOKEN, "bad"), 4401),
        (SessionForbidden("not yours"), 4403),
        (SessionTakenOver("elsewhere"), 4409),
        (AuthUnavailable("no keys"), 1013),
        (GatewayError(ErrorCode.BROKER_UNAVAILABLE, "down"), 1013),
    ],
)
def test_close_codes(error: GatewayError, code: int) -> None:
    assert close_code(error) == code
