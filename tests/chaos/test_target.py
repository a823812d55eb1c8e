"""The chaos webhook target: signatures checked by the reference library, and down means refused."""

from __future__ import annotations

import time

import orjson
import pytest
import requests

from actions.signing import sign
from chaos.target import Target, new_secret

BODY = orjson.dumps({"rule": "big-order", "group": "shop=s1", "at": "1700000000000", "event": "e7"})


def post(target: Target, body: bytes, secret: str, webhook_id: str = "msg-1") -> requests.Response:
    stamp = int(time.time())
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(stamp),
               "webhook-signature": sign(secret, webhook_id, stamp, body), "content-type": "application/json"}
    return requests.post(target.url, data=body, headers=headers, timeout=5)


def test_a_signed_request_is_recorded_with_its_execution():
    with Target(new_secret()) as target:
        assert post(target, BODY, target.secret).status_code == 200
        (delivery,) = target.deliveries
    assert delivery.signature_ok
    assert (delivery.webhook_id, delivery.key, delivery.event_id) == ("msg-1", ("big-order", "shop=s1", 1700000000000), "e7")


def test_a_request_signed_with_another_secret_fails_verification():
    with Target(new_secret()) as target:
        post(target, BODY, new_secret())
        (delivery,) = target.deliveries
    assert not delivery.signature_ok


def test_a_tampered_body_fails_verification():
    secret = new_secret()
    with Target(secret) as target:
        stamp = int(time.time())
        headers = {"webhook-id": "m", "webhook-timestamp": str(stamp),
                   "webhook-signature": sign(secret, "m", stamp, BODY)}
        requests.post(target.url, data=BODY.replace(b"s1", b"s2"), headers=headers, timeout=5)
        (delivery,) = target.deliveries
    assert not delivery.signature_ok


def test_a_body_naming_no_execution_has_no_key():
    with Target(new_secret()) as target:
        post(target, b'{"hello": 1}', target.secret)
        (delivery,) = target.deliveries
    assert delivery.key is None


def test_down_refuses_new_and_kept_alive_connections_and_up_listens_on_the_same_port():
    with Target(new_secret()) as target:
        session = requests.Session()
        assert session.post(target.url, data=BODY, timeout=5).status_code == 200  # a kept-alive connection
        port = target.port
        target.down()
        with pytest.raises(requests.ConnectionError):
            session.post(target.url, data=BODY, timeout=5)
        with pytest.raises(requests.ConnectionError):
            requests.post(target.url, data=BODY, timeout=5)
        target.up()
        assert target.port == port
        assert requests.post(target.url, data=BODY, timeout=5).status_code == 200
        assert len(target.deliveries) == 2
