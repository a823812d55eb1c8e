"""The one parse of a webhook URL, and its redaction for logs and rows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from actions.pipeline import invalid_action_error, render_action
from actions.webhook_url import UnsafeUrl, parse_webhook_url, redact_url
from rules.model import WebhookAction


@pytest.mark.parametrize(
    ("url", "host", "port", "target", "host_header"),
    [
        ("https://Hooks.Example.COM./a/b?x=1#frag", "hooks.example.com", 443, "/a/b?x=1", "hooks.example.com"),
        ("http://example.com", "example.com", 80, "/", "example.com"),
        ("http://example.com:8080?q", "example.com", 8080, "/?q", "example.com:8080"),
        ("HTTP://93.184.216.34:80/", "93.184.216.34", 80, "/", "93.184.216.34:80"),
        ("http://[2606:2800:0220:1::1]:8443/x", "2606:2800:220:1::1", 8443, "/x", "[2606:2800:220:1::1]:8443"),
        ("http://xn--bcher-kva.example/caf\u00e9 au lait?q=\u00e9 1", "xn--bcher-kva.example", 80,
         "/caf%C3%A9%20au%20lait?q=%C3%A9%201", "xn--bcher-kva.example"),
        ("http://my_host.internal/%2e%2e/", "my_host.internal", 80, "/%2e%2e/", "my_host.internal"),
    ],
)
def test_accepted_urls_have_one_reading(url, host, port, target, host_header):
    parsed = parse_webhook_url(url)
    assert (parsed.host, parsed.port, parsed.target, parsed.host_header) == (host, port, target, host_header)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://a.test\\@b.test/", "backslash"),
        ("http://u:p@b.test/", "credentials"),
        ("http://b\u00fccher.example/", "xn--"),
        ("http://2130706433/", "dotted-decimal"),
        ("http://1.2.3.4.5/", "dotted-decimal"),
        ("http://[::1%25lo]/", "percent-encoded"),
        ("http://[1::2::3]/", "IPv6"),
        ("http://a.test:0/", "port"),
        ("http://a.test:65536/", "port"),
        ("http:/a.test/", "scheme://host"),
        ("file://a.test/", "scheme"),
        ("http://-a.test/", "DNS name"),
        ("http://" + "a" * 64 + ".test/", "DNS name"),
        ("http://a.test /", "space"),
        ("http://a.test/\r\nX-Injected: 1", "control character"),
    ],
)
def test_refused_urls_say_why(url, why):
    with pytest.raises(UnsafeUrl, match=why):
        parse_webhook_url(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XXXXXXXXXXXXXXXXXXXXXXXX",
         "https://hooks.slack.com/services/[redacted]/[redacted]/[redacted]"),
        ("https://acme.webhook.office.com/webhookb2/0f8fad5b-d9cb-469f-a165-70867728950e@72f988bf-86f1-41af-91ab"
         "-2d7cd011db47/IncomingWebhook/9d5e2a0c1b3f4e6d8a7c0b1e2f3a4b5c/6f2b9c1d-3e4a-4b5c-8d7e-9f0a1b2c3d4e",
         "https://acme.webhook.office.com/[redacted]/[redacted]/IncomingWebhook/[redacted]/[redacted]"),
        ("https://discord.com/api/webhooks/123456789012345678/" + "aB3_-" * 13 + "xyz",
         "https://discord.com/api/webhooks/[redacted]/[redacted]"),
        ("https://user:pw@hooks.example.com:8443/v1/alerts?token=s3cr3t#x", "https://hooks.example.com:8443/v1/alerts"),
        ("https://[::1]:99/cpu", "https://[::1]:99/cpu"),
        ("http://a.test:99999/x", "[redacted]"),
        ("/next/0123456789abcdef0123?token=s3cr3t", "/next/[redacted]"),  # a relative redirect
    ],
)
def test_redaction_keeps_the_shape_and_hides_tokens(url, shown):
    assert redact_url(url) == shown


def test_an_invalid_rendered_endpoint_is_reported_without_its_secret():
    action = WebhookAction(endpoint="{{ event.url }}", headers={"authorization": "{{ event.auth }}"})
    secret_url = "hxxps://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XXXXXXXXXXXXXXXXXXXXXXXX?sig=s3cr3t"
    with pytest.raises(ValidationError) as caught:
        render_action(action, {"event": {"url": secret_url, "auth": "Bearer t0ken"}})
    message = invalid_action_error(caught.value)
    assert message.startswith("rendered action is invalid: endpoint: endpoint must be an http")
    assert "XXXXXXXX" not in message and "s3cr3t" not in message and "T0AAAAAAA" not in message
