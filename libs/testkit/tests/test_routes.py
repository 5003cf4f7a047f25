from types import SimpleNamespace

from parley_testkit.routes import flatten


def test_included_routers_are_opened_up_in_order() -> None:
    inner = SimpleNamespace(routes=[SimpleNamespace(path="/b"), SimpleNamespace(path="/c")])
    routes = [SimpleNamespace(path="/a"), SimpleNamespace(original_router=inner), SimpleNamespace(path="/d")]
    assert [route.path for route in flatten(routes)] == ["/a", "/b", "/c", "/d"]
