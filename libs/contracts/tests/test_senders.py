import pytest

from parley_contracts import DOMAIN_EVENTS, CompletionFinished, EventDecoder, UnsupportedEvent
from parley_contracts.senders import OWNED, SERVICES, ForgedEvent, Senders, broker_user
from parley_contracts.stream import CONTROL_COMMANDS, SESSION_STREAM_EVENTS, WorkerHeartbeat
from tests.builders import finished

USERS = "auth=parley-auth,gateway=parley-gateway,history=parley-history,inference=parley-inference"


def test_every_message_type_has_a_publisher() -> None:
    published = {type_ for types in OWNED.values() for type_ in types}
    for model in (*DOMAIN_EVENTS, *SESSION_STREAM_EVENTS, *CONTROL_COMMANDS, WorkerHeartbeat):
        assert model.model_fields["type"].default in published, model.__name__


def test_a_sender_passes_only_with_a_type_it_owns() -> None:
    senders = Senders.parse(USERS)
    senders.check("completion.finished", "parley-inference")
    senders.check("prompt.submitted", "parley-gateway")
    senders.check("prompt.submitted", "parley-history")
    with pytest.raises(ForgedEvent, match="parley-gateway"):
        senders.check("completion.finished", "parley-gateway")
    with pytest.raises(ForgedEvent):
        senders.check("quota.exceeded", "parley-history")
    with pytest.raises(ForgedEvent):
        senders.check("completion.finished", None)
    with pytest.raises(ForgedEvent):
        senders.check("made.up", "parley-auth")


def test_one_shared_credential_checks_nothing() -> None:
    Senders.parse("").check("completion.finished", None)
    assert Senders.parse("  ").users is None


@pytest.mark.parametrize(
    "value",
    [
        "auth=parley-auth",
        "auth=a,gateway=g,history=h,inference=i,auth=x",
        "auth=a,gateway=g,history=h,inference=i,billing=b",
        "auth=a,gateway=g,history=h,inference",
        "auth=a,gateway=a,history=h,inference=i",
    ],
)
def test_a_partial_or_ambiguous_list_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="PARLEY_BROKER_USERS"):
        Senders.parse(value)


def test_every_service_is_named() -> None:
    assert set(Senders.parse(USERS).users or {}) == set(SERVICES)


def test_the_broker_user_is_the_url_s() -> None:
    assert broker_user("amqp://parley%2Dauth:secret@rabbit:5672/") == "parley-auth"
    assert broker_user("amqp://rabbit/") == "guest"


def test_decode_reads_the_event_then_checks_its_sender() -> None:
    decoder = EventDecoder([CompletionFinished])
    body = finished().to_json()
    senders = Senders.parse(USERS)
    assert senders.decode(decoder, body, "parley-inference").type == "completion.finished"
    with pytest.raises(ForgedEvent):
        senders.decode(decoder, body, "parley-gateway")
    with pytest.raises(UnsupportedEvent, match="not JSON"):
        senders.decode(decoder, b"{nope", "parley-inference")
