"""Test support for Parley: fake model provider, JWT issuer, RabbitMQ vhosts, processes."""

from parley_testkit.jwt import TestIssuer
from parley_testkit.procs import ServiceProcess, ServiceProcessError, free_port
from parley_testkit.provider import FakeProvider, RecordedRequest, Script
from parley_testkit.rabbit import amqp_url_from_env, cut_connections, isolated_vhost, publish_as, vhost_user
from parley_testkit.resolver import StubResolver

__all__ = [
    "FakeProvider",
    "RecordedRequest",
    "Script",
    "ServiceProcess",
    "ServiceProcessError",
    "StubResolver",
    "TestIssuer",
    "amqp_url_from_env",
    "cut_connections",
    "free_port",
    "isolated_vhost",
    "publish_as",
    "vhost_user",
]
