"""``serve`` with the milter, the TLS policy socketmap and the API in one process:
one MTA-STS policy cache for both outbound front ends, and SIGHUP applying the
milter's keys to new connections."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from tests.api.helpers import OUTSIDE_IP, signed_message
from tests.mail.milter_client import MilterClient, Result
from tests.mail.serve_net import ServeNet, serve_net
from tests.mail.stsnet import query


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeNet]:
    with serve_net(tmp_path_factory.mktemp("serve-mail"),
                   'milter-authserv-id = "mx.before.invalid"\n') as sn:
        yield sn


def api_get(sn: ServeNet, path: str, **params: str) -> dict[str, object]:
    query_text = "&".join(f"{k}={v}" for k, v in params.items())
    with urllib.request.urlopen(f"{sn.api}{path}?{query_text}", timeout=30) as resp:
        body: dict[str, object] = json.loads(resp.read())
    return body


def fetches(sn: ServeNet, host: str) -> int:
    return sn.policies.requests.count(host)


def test_socketmap_and_api_share_one_policy_cache(served: ServeNet) -> None:
    # socketmap first, then the API: the API answers from the cache
    [reply] = query(served.socketmap[1], "postfix enforce.sts.example")
    assert reply.startswith("OK secure match="), reply
    assert fetches(served, "mta-sts.enforce.sts.example") == 1
    body = api_get(served, "/v1/mta-sts", domain="enforce.sts.example")
    assert body["result"] == "policy" and body["source"] == "cache", body
    policy = api_get(served, "/v1/tls-policy", domain="enforce.sts.example")
    assert policy["postfix"] == reply, policy
    assert fetches(served, "mta-sts.enforce.sts.example") == 1
    # the other way round: the API fetches, the socketmap does not fetch again
    body = api_get(served, "/v1/mta-sts", domain="testing.sts.example")
    assert body["source"] == "fetched", body
    assert fetches(served, "mta-sts.testing.sts.example") == 1
    query(served.socketmap[1], "postfix testing.sts.example")
    assert fetches(served, "mta-sts.testing.sts.example") == 1


def forged(client: MilterClient) -> Result:
    """A DKIM-broken message from outside secure.example's SPF range: DMARC fails
    and secure.example publishes p=reject."""
    msg = signed_message().replace(b"Hello Bob", b"Hello Eve")
    return client.message(msg, ip=OUTSIDE_IP)


def test_sighup_applies_the_milter_policy_to_new_connections(served: ServeNet) -> None:
    old = MilterClient(*served.milter)
    try:
        old.negotiate()
        res = forged(old)
        assert res.final == b"c"                        # default: tag only
        assert res.header().lstrip().startswith("mx.before.invalid;")
        served.write_config('milter-authserv-id = "mx.after.invalid"\n'
                            'milter-policy-dmarc-reject = "reject"\n')
        assert "configuration reloaded" in served.reload()
        with MilterClient(*served.milter) as new:
            new.negotiate()
            res = forged(new)
            assert res.final == b"y" and res.reply.startswith("550 5.7.1 ")
            res = new.message(signed_message(), ip="192.0.2.25", connect=True)
            assert res.header().lstrip().startswith("mx.after.invalid;")
        # a connection open before the reload keeps the policy it started with
        res = forged(old)
        assert res.final == b"c"
        assert res.header().lstrip().startswith("mx.before.invalid;")
    finally:
        old.close()
    # a bad value is refused as a whole: the running policy stays
    served.write_config('milter-authserv-id = "mx.after.invalid"\n'
                        'milter-policy-dmarc-reject = "drop"\n')
    line = served.reload()
    assert "reload refused" in line and "milter-policy-dmarc-reject" in line, line
    with MilterClient(*served.milter) as client:
        client.negotiate()
        assert forged(client).final == b"y"
    # and back to tagging only, through ``resolver control reload`` this time
    served.write_config('milter-authserv-id = "mx.after.invalid"\n')
    done = served.control("reload")
    assert done.returncode == 0 and "configuration reloaded" in done.stdout, done
    served.wait_for("configuration reloaded")       # its log line
    with MilterClient(*served.milter) as client:
        client.negotiate()
        assert forged(client).final == b"c"


def test_milter_address_change_needs_a_restart(served: ServeNet) -> None:
    served.config.write_text(served.base_config.replace(
        f'milter = "127.0.0.1:{served.milter[1]}"', 'milter = "127.0.0.1:1"'))
    assert "configuration reloaded" in served.reload()
    # logged as the reload is applied, just before the line that ends it
    assert any("milter: a new address takes effect at the next start" in line
               for line in served.seen[-10:]), served.seen[-10:]
    with MilterClient(*served.milter) as client:   # still where it was
        client.negotiate()
    served.write_config()
    assert "configuration reloaded" in served.reload()
