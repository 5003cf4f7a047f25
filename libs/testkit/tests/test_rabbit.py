from __future__ import annotations

from urllib.parse import unquote, urlsplit

import aio_pika
import aio_pika.exceptions
import pytest

from parley_testkit import amqp_url_from_env, free_port, isolated_vhost, vhost_user


async def test_isolated_vhost_is_usable_then_removed() -> None:
    with isolated_vhost(amqp_url_from_env(), prefix="testkit") as url:
        vhost = unquote(urlsplit(url).path[1:])
        assert vhost.startswith("testkit-")
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("probe", auto_delete=True)
            await channel.default_exchange.publish(aio_pika.Message(b"hi"), routing_key="probe")
            message = await queue.get(timeout=5)
            assert message.body == b"hi"
            await message.ack()

    with pytest.raises(aio_pika.exceptions.AMQPError):
        await aio_pika.connect(url, timeout=5)


async def test_vhost_user_publishes_as_itself_only_then_is_removed() -> None:
    with (
        isolated_vhost(amqp_url_from_env(), prefix="testkit") as vhost,
        vhost_user(vhost, "testkit-user") as url,
    ):
        user = unquote(urlsplit(url).username or "")
        assert user.startswith("testkit-user-")
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("probe", auto_delete=True)
            await channel.default_exchange.publish(aio_pika.Message(b"hi", user_id=user), routing_key="probe")
            message = await queue.get(timeout=5)
            assert message.user_id == user
            with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
                await channel.default_exchange.publish(
                    aio_pika.Message(b"x", user_id="guest"), routing_key="probe"
                )
    with pytest.raises(aio_pika.exceptions.AMQPError):
        await aio_pika.connect(url, timeout=5)


def test_amqp_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMQP_URL", raising=False)
    assert amqp_url_from_env() == "amqp://guest:guest@127.0.0.1:5672/"
    monkeypatch.setenv("AMQP_URL", "amqp://u:p@rabbit:5672/")
    assert amqp_url_from_env() == "amqp://u:p@rabbit:5672/"


def test_clear_error_when_no_way_to_manage_vhosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    closed = f"http://127.0.0.1:{free_port()}"

    with (
        pytest.raises(RuntimeError, match="neither rabbitmqctl nor the management API"),
        isolated_vhost(amqp_url_from_env(), management_url=closed),
    ):
        pass
