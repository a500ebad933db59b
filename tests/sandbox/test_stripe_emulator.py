"""The Stripe emulator driven by a real `stripe.StripeClient` over loopback HTTP."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import stripe

from sync.sandbox.clock import SandboxClock
from sync.sandbox.httpserver import Request, SandboxServer
from sync.sandbox.stripe import StripeEmulator, store
from tests.sandbox.conftest import CurrentEmulator

TEST_KEY = "sk_test_51EmulatorKeyForTestsOnlyAbcdWXYZ"
LIVE_KEY = "rk_live_51EmulatorLiveKeyForTestsOnly9876"


class Sandbox:
    """A fresh emulator per test behind one loopback server (stopping a server costs ~0.5 s)."""

    def __init__(self, server: SandboxServer, session: requests.Session) -> None:
        self.clock = SandboxClock()
        self.emulator = StripeEmulator(clock=self.clock)
        self.server = server
        self.emulator.base_url = server.url
        self.emulator.add_api_key(TEST_KEY)
        self.emulator.add_api_key(LIVE_KEY)
        self.session = session

    def client(self, key: str = TEST_KEY, *, retries: int = 0) -> stripe.StripeClient:
        return stripe.StripeClient(
            key,
            base_addresses={"api": self.server.url},
            max_network_retries=retries,
            http_client=stripe.RequestsClient(session=self.session, timeout=10),
        )

    def raw(self, method: str, path: str, *, key: str | None = TEST_KEY, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.session.request(method, self.server.url + path, headers=headers, timeout=10, **kwargs)


@pytest.fixture
def sandbox(shared_server: tuple[SandboxServer, CurrentEmulator]) -> Iterator[Sandbox]:
    server, current = shared_server
    with requests.Session() as session:
        box = Sandbox(server, session)
        current.emulator = box.emulator
        yield box
        box.emulator.db.close()


def link_params(crm_id: str = "a0X000001", amount: int = 250000) -> dict[str, Any]:
    return {
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": amount,
                    "product_data": {"name": f"Deposit {crm_id}", "metadata": {"crm_id": crm_id}},
                },
            }
        ],
        "restrictions": {"completed_sessions": {"limit": 1}},
        "metadata": {"crm_payment_request_id": crm_id},
        "payment_intent_data": {"metadata": {"crm_payment_request_id": crm_id}, "description": "Deposit"},
    }


def test_creates_a_single_use_link_with_inline_price_and_product(sandbox: Sandbox) -> None:
    client = sandbox.client()
    link = client.v1.payment_links.create(params=link_params())
    assert link.id.startswith("plink_") and link.object == "payment_link"
    assert link.active is True and link.livemode is False
    assert link.restrictions.completed_sessions.to_dict() == {"count": 0, "limit": 1}
    assert link.metadata.to_dict() == {"crm_payment_request_id": "a0X000001"}
    assert link.payment_intent_data.metadata.to_dict() == {"crm_payment_request_id": "a0X000001"}
    assert link.payment_intent_data.description == "Deposit"
    assert link.currency == "usd"
    assert "line_items" not in link
    assert link.url.startswith(f"{sandbox.server.url}/__sandbox/pay/test_")

    items = client.v1.payment_links.line_items.list(link.id)
    assert items.url == f"/v1/payment_links/{link.id}/line_items"
    (item,) = items.data
    assert (item.object, item.quantity, item.amount_total, item.description) == (
        "item",
        1,
        250000,
        "Deposit a0X000001",
    )
    price = client.v1.prices.retrieve(item.price.id)
    assert (price.unit_amount, price.unit_amount_decimal, price.currency, price.type) == (
        250000,
        250000,
        "usd",
        "one_time",
    )
    product = client.v1.products.retrieve(price.product)
    assert product.name == "Deposit a0X000001"
    assert product.metadata.to_dict() == {"crm_id": "a0X000001"}


def test_expand_line_items_embeds_a_list_with_prices(sandbox: Sandbox) -> None:
    client = sandbox.client()
    created = client.v1.payment_links.create(params={**link_params(), "expand": ["line_items"]})
    assert created.line_items.object == "list" and created.line_items.data[0].price.object == "price"
    fetched = client.v1.payment_links.retrieve(created.id, params={"expand": ["line_items.data.price.product"]})
    assert fetched.line_items.data[0].price.product.name == "Deposit a0X000001"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_links.retrieve(created.id, params={"expand": ["metadata"]})


def test_retrieves_and_deactivates_a_link_and_records_events(sandbox: Sandbox) -> None:
    client = sandbox.client()
    link = client.v1.payment_links.create(params=link_params())
    assert client.v1.payment_links.retrieve(link.id).id == link.id
    updated = client.v1.payment_links.update(
        link.id,
        params={"active": False, "inactive_message": "Replaced by a newer link", "metadata": {"rev": "2"}},
    )
    assert updated.active is False and updated.inactive_message == "Replaced by a newer link"
    assert updated.metadata.to_dict() == {"crm_payment_request_id": "a0X000001", "rev": "2"}
    assert client.v1.payment_links.retrieve(link.id).active is False

    newest, oldest = client.v1.events.list().data
    assert (oldest.type, newest.type) == ("payment_link.created", "payment_link.updated")
    assert oldest.data.object.active is True  # a snapshot, not the current object
    assert newest.data.object.active is False
    assert newest.data.previous_attributes.to_dict() == {
        "active": True,
        "inactive_message": None,
        "metadata": {"rev": None},
    }
    assert newest.request.id is not None
    assert client.v1.events.retrieve(newest.id).type == "payment_link.updated"

    page = requests.get(link.url, timeout=10)
    assert page.status_code == 200 and "Replaced by a newer link" in page.text


def test_updates_payment_intent_metadata_declaratively_and_restrictions(sandbox: Sandbox) -> None:
    client = sandbox.client()
    link = client.v1.payment_links.create(params=link_params())
    updated = client.v1.payment_links.update(
        link.id,
        params={
            "payment_intent_data": {"metadata": {"other": "x"}},
            "restrictions": {"completed_sessions": {"limit": 3}},
        },
    )
    assert updated.payment_intent_data.metadata.to_dict() == {"other": "x"}
    assert updated.payment_intent_data.description == "Deposit"
    assert updated.restrictions.completed_sessions.limit == 3
    cleared = client.v1.payment_links.update(link.id, params={"restrictions": "", "inactive_message": ""})
    assert cleared.restrictions is None and cleared.inactive_message is None


def test_update_rejects_changing_a_line_items_price(sandbox: Sandbox) -> None:
    client = sandbox.client()
    link = client.v1.payment_links.create(params=link_params())
    item_id = client.v1.payment_links.line_items.list(link.id).data[0].id
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_links.update(link.id, params={"line_items": [{"id": item_id, "price": "price_x"}]})
    assert caught.value.code == "parameter_unknown" and caught.value.param == "line_items[0][price]"
    client.v1.payment_links.update(link.id, params={"line_items": [{"id": item_id, "quantity": 2}]})
    assert client.v1.payment_links.line_items.list(link.id).data[0].amount_total == 500000


def test_lists_newest_first_with_cursor_paging(sandbox: Sandbox) -> None:
    client = sandbox.client()
    ids = [client.v1.payment_links.create(params=link_params(f"r{i}")).id for i in range(5)]
    client.v1.payment_links.update(ids[0], params={"active": False})
    first = client.v1.payment_links.list(params={"limit": 2})
    assert [link.id for link in first.data] == [ids[4], ids[3]] and first.has_more is True
    assert first.url == "/v1/payment_links"
    assert [link.id for link in first.auto_paging_iter()] == ids[::-1]
    after = client.v1.payment_links.list(params={"limit": 2, "starting_after": ids[3]})
    assert [link.id for link in after.data] == [ids[2], ids[1]] and after.has_more is True
    before = client.v1.payment_links.list(params={"limit": 2, "ending_before": ids[1]})
    assert [link.id for link in before.data] == [ids[3], ids[2]] and before.has_more is True
    active = client.v1.payment_links.list(params={"active": True, "limit": 100})
    assert [link.id for link in active.data] == ids[:0:-1]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_links.list(params={"limit": 101})
    assert caught.value.param == "limit"


def test_idempotent_create_replays_the_first_answer(sandbox: Sandbox) -> None:
    client = sandbox.client()
    options: Any = {"idempotency_key": "plink:a0X000001:rev1"}
    first = client.v1.payment_links.create(params=link_params(), options=options)
    second = client.v1.payment_links.create(params=link_params(), options=options)
    assert second.id == first.id
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    assert len(sandbox.emulator.objects("payment_link")) == 1
    assert len(sandbox.emulator.events()) == 1
    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.payment_links.create(params=link_params(amount=1), options=options)
    assert "Try using a key other than 'plink:a0X000001:rev1'" in str(caught.value.user_message)
    assert caught.value.http_status == 400


def test_failed_validation_saves_nothing_under_the_key(sandbox: Sandbox) -> None:
    client = sandbox.client()
    options: Any = {"idempotency_key": "k-validation"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_links.create(params={**link_params(), "bogus": "1"}, options=options)
    link = client.v1.payment_links.create(params=link_params(), options=options)
    assert link.last_response.headers.get("Idempotent-Replayed") is None


def test_idempotency_keys_expire_after_24_hours_and_are_scoped_by_mode(sandbox: Sandbox) -> None:
    options: Any = {"idempotency_key": "k-expiry"}
    first = sandbox.client().v1.payment_links.create(params=link_params(), options=options)
    live = sandbox.client(LIVE_KEY).v1.payment_links.create(params=link_params(), options=options)
    assert live.id != first.id and live.livemode is True
    sandbox.clock.advance(timedelta(hours=23))
    assert sandbox.client().v1.payment_links.create(params=link_params(), options=options).id == first.id
    sandbox.clock.advance(timedelta(hours=1))
    assert sandbox.client().v1.payment_links.create(params=link_params(), options=options).id != first.id


def test_concurrent_request_with_the_same_key_gets_409(sandbox: Sandbox) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(request: Request) -> None:
        if not entered.is_set():
            entered.set()
            release.wait(5)

    sandbox.emulator.on_execute = hold
    options: Any = {"idempotency_key": "k-race"}
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.append(sandbox.client().v1.payment_links.create(params=link_params(), options=options))
    )
    worker.start()
    assert entered.wait(5)
    try:
        # stripe-python maps idempotency_error to IdempotencyError only on 400/404; a 409 is an APIError
        # (`_api_requestor.specific_v1_api_error`), which its retry loop retries.
        with pytest.raises(stripe.APIError) as caught:
            sandbox.client().v1.payment_links.create(params=link_params(), options=options)
        assert caught.value.http_status == 409
        assert caught.value.json_body["error"]["type"] == "idempotency_error"
        assert caught.value.json_body["error"]["code"] == "idempotency_key_in_use"
        assert caught.value.headers.get("Stripe-Should-Retry") == "true"
    finally:
        release.set()
        worker.join(5)
    assert sandbox.client().v1.payment_links.create(params=link_params(), options=options).id == results[0].id


def test_long_idempotency_key_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(stripe.InvalidRequestError):
        sandbox.client().v1.payment_links.create(params=link_params(), options={"idempotency_key": "k" * 256})
    assert sandbox.emulator.objects("payment_link") == []


@pytest.mark.parametrize("key", ["sk_test_NotRegisteredButLongEnoughWxyz", TEST_KEY])
def test_unknown_or_revoked_key_is_an_authentication_error_that_hides_the_key(sandbox: Sandbox, key: str) -> None:
    sandbox.emulator.revoke_api_key(TEST_KEY)
    with pytest.raises(stripe.AuthenticationError) as caught:
        sandbox.client(key).v1.payment_links.create(params=link_params())
    message = str(caught.value.user_message)
    assert message.startswith("Invalid API Key provided: sk_test_") and message.endswith(key[-4:])
    assert key not in message and key[8:-4] not in message
    assert caught.value.http_status == 401
    (entry,) = sandbox.emulator.request_log()
    assert (entry["status"], entry["key_last4"]) == (401, key[-4:])
    assert entry["params"]["metadata"] == {"crm_payment_request_id": "a0X000001"}
    assert key not in repr(sandbox.emulator.request_log())


def test_missing_key_gets_stripes_message_and_basic_auth_works(sandbox: Sandbox) -> None:
    missing = sandbox.raw("GET", "/v1/account", key=None)
    assert missing.status_code == 401
    assert missing.json()["error"]["message"].startswith("You did not provide an API key.")
    basic = base64.b64encode(f"{TEST_KEY}:".encode()).decode()
    account = sandbox.raw("GET", "/v1/account", key=None, headers={"Authorization": f"Basic {basic}"})
    assert account.status_code == 200 and account.json()["object"] == "account"
    assert account.json()["settings"]["dashboard"]["display_name"]


def test_unknown_param_and_missing_resource_errors(sandbox: Sandbox) -> None:
    client = sandbox.client()
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_links.create(
            params={**link_params(), "line_items": [{"quantity": 1, "price": "x", "foo": 1}]}
        )
    assert unknown.value.param == "line_items[0][foo]" and unknown.value.code == "parameter_unknown"
    assert unknown.value.user_message == "Received unknown parameter: line_items[0][foo]"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_links.retrieve("plink_nope")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    assert missing.value.user_message == "No such payment_link: 'plink_nope'"
    assert missing.value.json_body["error"]["doc_url"] == "https://stripe.com/docs/error-codes/resource-missing"
    with pytest.raises(stripe.InvalidRequestError) as bad_int:
        client.v1.payment_links.list(params={"limit": "ten"})  # type: ignore[typeddict-item]
    assert (bad_int.value.code, bad_int.value.param) == ("parameter_invalid_integer", "limit")


@pytest.mark.parametrize(
    ("price_data", "param"),
    [
        (
            {"currency": "xyz", "unit_amount": 100, "product_data": {"name": "A"}},
            "line_items[0][price_data][currency]",
        ),
        (
            {"currency": "usd", "unit_amount": 100_000_000, "product_data": {"name": "A"}},
            "line_items[0][price_data][unit_amount]",
        ),
        (
            {"currency": "usd", "unit_amount": -1, "product_data": {"name": "A"}},
            "line_items[0][price_data][unit_amount]",
        ),
        ({"currency": "usd", "unit_amount": 100}, "line_items[0][price_data][product]"),
        ({"currency": "usd", "product_data": {"name": "A"}}, "line_items[0][price_data][unit_amount]"),
    ],
)
def test_rejects_invalid_price_data(sandbox: Sandbox, price_data: dict[str, Any], param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client().v1.payment_links.create(params={"line_items": [{"quantity": 1, "price_data": price_data}]})
    assert caught.value.param == param
    assert sandbox.emulator.objects("payment_link") == [] and sandbox.emulator.objects("price") == []


def test_rejects_metadata_over_stripes_limits(sandbox: Sandbox) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client().v1.payment_links.create(params={**link_params(), "metadata": {"k": "v" * 501}})
    assert caught.value.param == "metadata[k]"
    assert "Metadata values can have up to 500 characters" in str(caught.value.user_message)


def test_unknown_route_is_stripes_404(sandbox: Sandbox) -> None:
    response = sandbox.raw("POST", "/v1/foo")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == (
        "Unrecognized request URL (POST: /v1/foo). Please see https://stripe.com/docs or we can help at "
        "https://support.stripe.com/."
    )
    assert response.headers["Request-Id"].startswith("req_")


def test_echoes_the_requested_stripe_version(sandbox: Sandbox) -> None:
    link = sandbox.client().v1.payment_links.create(params=link_params())
    assert link.last_response.headers["Stripe-Version"] == stripe.api_version
    plain = sandbox.raw("GET", "/v1/account")
    assert plain.headers["Stripe-Version"] == sandbox.emulator.api_version
    pinned = sandbox.raw("GET", "/v1/account", headers={"Stripe-Version": "2025-03-31.basil"})
    assert pinned.headers["Stripe-Version"] == "2025-03-31.basil"


def test_events_walk_oldest_to_newest_with_ending_before(sandbox: Sandbox) -> None:
    client = sandbox.client()
    cursor_link = client.v1.payment_links.create(params=link_params("r0"))
    (cursor,) = client.v1.events.list().data
    later = [client.v1.payment_links.create(params=link_params(f"r{i}")).id for i in range(1, 6)]
    first_page = client.v1.events.list(params={"ending_before": cursor.id, "limit": 2})
    assert [event.data.object.id for event in first_page.data] == [
        later[1],
        later[0],
    ]  # closest to the cursor
    assert first_page.has_more is True
    walked = first_page.auto_paging_iter()
    assert [event.data.object.id for event in walked] == later
    assert cursor_link.id not in later
    every = client.v1.events.list(params={"limit": 100}).data
    assert [event.data.object.id for event in every] == [*later[::-1], cursor_link.id]


def _every_event_id(sandbox: Sandbox, types: list[str] | None) -> list[str]:
    """The whole list, newest first, read from the store: the reference the paged lists must slice."""
    with sandbox.emulator.db.transaction() as conn:
        events = store.list_events(conn, mode="test")
    return [event["id"] for _, event in events if types is None or event["type"] in types]


def test_a_page_of_events_is_the_slice_of_the_whole_list_its_cursor_names(sandbox: Sandbox) -> None:
    # Pages of events read only as far as they reach; each must give what slicing the whole,
    # filtered, newest-first list gives, for any cursor, direction, limit and filter.
    client = sandbox.client()
    for i in range(6):
        link = client.v1.payment_links.create(params=link_params(f"s{i}"))
        if i % 2:
            client.v1.payment_links.update(link.id, params={"active": False})
    every = _every_event_id(sandbox, None)
    assert len(every) == 9
    for types in (None, ["payment_link.updated"], ["payment_link.created"]):
        filters = {"types": types} if types else {}
        whole = _every_event_id(sandbox, types)
        for limit in (1, 2, 3, 10):
            first = client.v1.events.list(params={"limit": limit, **filters})
            assert [e.id for e in first.data] == whole[:limit] and first.has_more is (len(whole) > limit)
            for cursor in every:
                got = client.v1.events.list(params={"ending_before": cursor, "limit": limit, **filters})
                newer = [e for e in whole if every.index(e) < every.index(cursor)]
                assert [e.id for e in got.data] == newer[-limit:], (types, cursor, limit)
                assert got.has_more is (len(newer) > limit)
                got = client.v1.events.list(params={"starting_after": cursor, "limit": limit, **filters})
                older = [e for e in whole if every.index(e) > every.index(cursor)]
                assert [e.id for e in got.data] == older[:limit], (types, cursor, limit)
                assert got.has_more is (len(older) > limit)


def test_event_filters(sandbox: Sandbox) -> None:
    client = sandbox.client()
    link = client.v1.payment_links.create(params=link_params())
    sandbox.clock.advance(timedelta(seconds=10))
    client.v1.payment_links.update(link.id, params={"active": False})
    updated, created = client.v1.events.list().data
    assert [e.id for e in client.v1.events.list(params={"types": ["payment_link.updated"]}).data] == [updated.id]
    assert [e.id for e in client.v1.events.list(params={"type": "payment_link.*"}).data] == [
        updated.id,
        created.id,
    ]
    assert [e.id for e in client.v1.events.list(params={"created": {"lt": updated.created}}).data] == [created.id]
    assert client.v1.events.list(params={"types": ["charge.succeeded"]}).data == []
    after = client.v1.events.list(params={"types": ["payment_link.created"], "ending_before": created.id})
    assert after.data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.list(params={"types": [f"t{i}" for i in range(21)]})
    with pytest.raises(stripe.InvalidRequestError) as exclusive:
        client.v1.events.list(params={"type": "a", "types": ["b"]})
    assert exclusive.value.code == "parameters_exclusive"


def test_a_live_key_does_not_see_test_objects(sandbox: Sandbox) -> None:
    test_link = sandbox.client().v1.payment_links.create(params=link_params())
    live = sandbox.client(LIVE_KEY)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        live.v1.payment_links.retrieve(test_link.id)
    assert caught.value.http_status == 404
    assert live.v1.payment_links.list().data == []
    assert live.v1.events.list().data == []
    live_link = live.v1.payment_links.create(params=link_params())
    assert live_link.livemode is True and "/test_" not in live_link.url
    assert [link["id"] for link in sandbox.emulator.objects("payment_link", mode="test")] == [test_link.id]


def test_request_log_counts_every_api_request_and_can_be_cleared(sandbox: Sandbox) -> None:
    client = sandbox.client()
    link = client.v1.payment_links.create(params=link_params(), options={"idempotency_key": "k-log"})
    client.v1.payment_links.retrieve(link.id)
    sandbox.raw("GET", "/v1/account", key="sk_test_unknownunknownunknownzzzz")
    counts = sandbox.emulator.request_counts()
    assert counts == {
        ("POST", "/v1/payment_links"): 1,
        ("GET", "/v1/payment_links/{id}"): 1,
        ("GET", "/v1/account"): 1,
    }
    created = sandbox.emulator.request_log()[0]
    assert created["idempotency_key"] == "k-log" and created["status"] == 200 and created["mode"] == "test"
    assert created["params"]["metadata"] == {"crm_payment_request_id": "a0X000001"}
    assert created["key_last4"] == TEST_KEY[-4:]
    sandbox.emulator.clear_request_log()
    assert sandbox.emulator.request_counts() == {}


def test_control_api_over_http(sandbox: Sandbox) -> None:
    url = sandbox.server.url + "/__sandbox"
    http = sandbox.session
    added = http.post(f"{url}/api_keys", json={"key": "rk_test_ControlAddedKey0000001234"}, timeout=10)
    assert added.status_code == 201 and added.json() == {"mode": "test", "key_last4": "1234"}
    link = sandbox.client("rk_test_ControlAddedKey0000001234").v1.payment_links.create(params=link_params())
    listed = http.get(f"{url}/objects", params={"type": "payment_link", "mode": "test"}, timeout=10).json()
    assert [o["id"] for o in listed["data"]] == [link.id]
    assert http.get(f"{url}/objects/{link.id}", timeout=10).json()["url"] == link.url
    counts = http.get(f"{url}/requests/counts", timeout=10).json()["data"]
    assert counts == [{"method": "POST", "path": "/v1/payment_links", "count": 1}]
    assert "ControlAddedKey" not in http.get(f"{url}/requests", timeout=10).text
    assert http.delete(f"{url}/requests", timeout=10).status_code == 204
    assert http.get(f"{url}/requests", timeout=10).json() == {"data": []}
    revoked = http.post(f"{url}/api_keys/revoke", json={"key": "rk_test_ControlAddedKey0000001234"}, timeout=10)
    assert revoked.json() == {"revoked": True}
    with pytest.raises(stripe.AuthenticationError):
        sandbox.client("rk_test_ControlAddedKey0000001234").v1.payment_links.list()
    assert http.post(f"{url}/api_keys", json={"key": "pk_test_nope"}, timeout=10).status_code == 400


def test_state_survives_a_restart_on_a_file_database(tmp_path: Any) -> None:
    clock = SandboxClock()
    path = str(tmp_path / "stripe.sqlite")
    first = StripeEmulator(clock=clock, db_path=path)
    first.add_api_key(TEST_KEY)
    server = SandboxServer(first.app).start()
    try:
        client = stripe.StripeClient(TEST_KEY, base_addresses={"api": server.url})
        link = client.v1.payment_links.create(params=link_params())
    finally:
        server.stop()
    again = StripeEmulator(clock=clock, db_path=path)
    assert again.account_id == first.account_id
    assert again.get_object(link.id) == link.to_dict()
