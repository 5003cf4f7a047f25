"""Settings shared by every service: each service's `Settings` subclasses these."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from parley_contracts.senders import Senders, broker_user

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


class BrokerSettings(BaseSettings):
    """Where RabbitMQ is. Read from `AMQP_URL` (shared by all services) unless
    the service's own prefix overrides it."""

    amqp_url: str = Field(default=DEFAULT_AMQP_URL, validation_alias="AMQP_URL")
    broker_users: str = Field(default="", validation_alias="PARLEY_BROKER_USERS")
    """Each service's RabbitMQ user, `auth=...,gateway=...,history=...,inference=...`, where each
    has its own: events from any other sender are dropped. Empty: one credential for all."""

    @field_validator("amqp_url")
    @classmethod
    def _amqp_scheme(cls, value: str) -> str:
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("AMQP_URL must start with amqp:// or amqps://")
        return value

    @field_validator("broker_users")
    @classmethod
    def _broker_users(cls, value: str) -> str:
        Senders.parse(value)
        return value

    @cached_property
    def senders(self) -> Senders:
        return Senders.parse(self.broker_users)

    @property
    def broker_user(self) -> str:
        """This service's RabbitMQ user: the `user_id` of every message it publishes."""
        return broker_user(self.amqp_url)


def trusted_proxies(value: str, *, setting: str) -> str:
    """`value` (addresses and CIDRs whose `X-Forwarded-For` is believed) unless it holds `*`:
    with `*` a client would choose the address it is throttled by."""
    if "*" in value:
        raise ValueError(
            f"{setting} must list the proxies' addresses or CIDRs, not '*': "
            "with '*' a client chooses the address it is throttled by"
        )
    return value
