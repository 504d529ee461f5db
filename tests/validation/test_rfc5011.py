"""RFC 5011 trust-anchor upkeep: the state machine of s4 with a fake clock, the state
file, and a full root KSK rollover on the test network (new KSK published, held
down for 30 days, trusted; the old one revoked and removed) while answers under the
root stay secure."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from resolver.clock import FixedClock
from resolver.config import Settings
from resolver.dnssec.anchors import TrustAnchor, load_default_anchors
from resolver.dnssec.canonical import signed_data
from resolver.dnssec.keys import key_tag, make_ds
from resolver.dnssec.status import Security
from resolver.service import Resolver
from resolver.testnet.server import AuthServer
from resolver.testnet.signer import SignSpec, sign_zone
from resolver.testnet.signing_keys import SigningKey, generate
from resolver.validate import autotrust_store
from resolver.validate.autotrust import (
    DAY,
    KeyState,
    refresh_interval,
    signal_qname,
)
from resolver.validate.autotrust_manager import TrustAnchorManager
from resolver.validate.autotrust_store import AutotrustError, read_state_file
from resolver.validate.chain import final_rrset
from resolver.wire import rdata as rd
from resolver.wire.name import ROOT, Name
from resolver.wire.rrset import RRset
from resolver.wire.types import RRType
from resolver.wire.zonefile import read_zone_text

T = TypeVar("T")

T0 = 1_760_000_000.0            # 2025-10-09, the fake "now" the tests start at
TTL = 86400                     # DNSKEY TTL: refresh every TTL/2 = 12 h
INCEPTION = int(T0 - DAY)
EXPIRATION = int(T0 + 400 * DAY)  # covers the whole simulated rollover


def revoked(key: SigningKey) -> SigningKey:
    """The same private key published with the REVOKE bit (flags 0x0181)."""
    return SigningKey(key.algorithm, key.flags | 0x0080, key.private)


def dnskey_rrset(keys: list[SigningKey], signers: list[SigningKey], zone: Name = ROOT,
                 ttl: int = TTL, inception: int = INCEPTION,
                 expiration: int = EXPIRATION) -> RRset:
    """A DNSKEY RRset of *keys* with one RRSIG from each of *signers*."""
    rrset = RRset(zone, RRType.DNSKEY, 1, ttl, [k.dnskey_rdata() for k in keys])
    for key in signers:
        header = rd.RRSIG(RRType.DNSKEY, key.algorithm, zone.label_count, ttl,
                          expiration & 0xFFFFFFFF, inception & 0xFFFFFFFF,
                          key_tag(key.dnskey_rdata()), zone, b"")
        rrset.add_sig(header.to_wire() + key.sign(signed_data(rrset, header)))
    return rrset


KSK_A = generate(13, "rfc5011-test/a", ksk=True)
KSK_B = generate(13, "rfc5011-test/b", ksk=True)
KSK_C = generate(13, "rfc5011-test/c", ksk=True)
ZSK = generate(13, "rfc5011-test/z", ksk=False)


def ds_anchor(key: SigningKey) -> TrustAnchor:
    return TrustAnchor(ROOT, RRType.DS, make_ds(ROOT, key.dnskey_rdata(), 2), "test")


def key_anchor(key: SigningKey) -> TrustAnchor:
    return TrustAnchor(ROOT, RRType.DNSKEY, key.dnskey_rdata(), "test")


def manager(tmp_path: Path | None, anchors: list[TrustAnchor], clock: FixedClock,
            **kwargs: Any) -> TrustAnchorManager:
    path = tmp_path / "root.autotrust.json" if tmp_path is not None else None
    return TrustAnchorManager(path, anchors, now=clock, **kwargs)


def states(mgr: TrustAnchorManager) -> dict[int, str]:
    return {entry["key_tag"]: entry["state"] for entry in mgr.status()}


def tag(key: SigningKey) -> int:
    return key_tag(key.dnskey_rdata())


def trusted_tags(mgr: TrustAnchorManager) -> set[int]:
    return {a.key_tag for a in mgr.trusted()}


def with_b_valid(clock: FixedClock) -> TrustAnchorManager:
    """A and B both Valid (B through a completed add hold-down)."""
    mgr = manager(None, [key_anchor(KSK_A)], clock)
    mgr.process(ROOT, dnskey_rrset([KSK_A, KSK_B, ZSK], [KSK_A]), clock())
    clock.when += 30 * DAY
    mgr.process(ROOT, dnskey_rrset([KSK_A, KSK_B, ZSK], [KSK_A]), clock())
    assert states(mgr) == {tag(KSK_A): "Valid", tag(KSK_B): "Valid"}
    return mgr


# ----------------------------------------------------------------------------- s4 events
def test_configured_ds_meets_its_key() -> None:
    clock = FixedClock(T0)
    mgr = manager(None, [ds_anchor(KSK_A)], clock)
    assert [e["type"] for e in mgr.status()] == ["DS"]
    result = mgr.process(ROOT, dnskey_rrset([KSK_A, ZSK], [KSK_A]), clock())
    assert result.validated and result.changed
    [entry] = mgr.status()
    assert (entry["type"], entry["state"], entry["key_tag"]) == ("DNSKEY", "Valid", tag(KSK_A))
    assert [a.rtype for a in mgr.trusted()] == [RRType.DNSKEY]
    assert entry["last_validated"] == T0
    assert ZSK.dnskey_rdata() not in {a.rdata for a in mgr.trusted()}   # never a ZSK


def test_new_key_held_down_then_valid() -> None:
    clock = FixedClock(T0)
    mgr = manager(None, [ds_anchor(KSK_A)], clock)
    rrset = dnskey_rrset([KSK_A, KSK_B, ZSK], [KSK_A])
    result = mgr.process(ROOT, rrset, clock())
    assert result.changed                           # the DS anchor became its DNSKEY
    assert states(mgr)[tag(KSK_B)] == "AddPend"
    entry = next(e for e in mgr.status() if e["key_tag"] == tag(KSK_B))
    assert entry["hold_until"] == T0 + 30 * DAY and not entry["trusted"]
    for day in (1, 10, 29):                         # hold-down not finished: still pending
        clock.when = T0 + day * DAY
        assert not mgr.process(ROOT, rrset, clock()).changed
        assert states(mgr)[tag(KSK_B)] == "AddPend"
        assert tag(KSK_B) not in trusted_tags(mgr)
    clock.when = T0 + 30 * DAY
    result = mgr.process(ROOT, rrset, clock())
    assert result.changed
    assert [(t.old, t.new, t.event) for t in result.transitions] == \
        [(KeyState.ADDPEND, KeyState.VALID, "AddTime")]
    assert trusted_tags(mgr) == {tag(KSK_A), tag(KSK_B)}


def test_add_holddown_is_at_least_the_original_ttl() -> None:
    """RFC 5011 s2.4.1: max(30 days, original TTL of the RRset)."""
    clock = FixedClock(T0)
    mgr = manager(None, [key_anchor(KSK_A)], clock)
    mgr.process(ROOT, dnskey_rrset([KSK_A, KSK_B], [KSK_A], ttl=40 * DAY), clock())
    entry = next(e for e in mgr.status() if e["key_tag"] == tag(KSK_B))
    assert entry["hold_until"] == T0 + 40 * DAY


def test_key_gone_during_holddown_goes_back_to_start() -> None:
    clock = FixedClock(T0)
    mgr = manager(None, [key_anchor(KSK_A)], clock)
    with_b = dnskey_rrset([KSK_A, KSK_B, ZSK], [KSK_A])
    without_b = dnskey_rrset([KSK_A, ZSK], [KSK_A])
    mgr.process(ROOT, with_b, clock())
    clock.when += 10 * DAY
    result = mgr.process(ROOT, without_b, clock())
    assert [(t.old, t.new, t.event) for t in result.transitions] == \
        [(KeyState.ADDPEND, KeyState.START, "KeyRem")]
    assert states(mgr)[tag(KSK_B)] == "Start"
    clock.when += DAY                                # back: the timer starts over
    mgr.process(ROOT, with_b, clock())
    entry = next(e for e in mgr.status() if e["key_tag"] == tag(KSK_B))
    assert entry["state"] == "AddPend" and entry["hold_until"] == clock.when + 30 * DAY
    clock.when = T0 + 31 * DAY                       # 30 days after the first sighting
    mgr.process(ROOT, with_b, clock())
    assert states(mgr)[tag(KSK_B)] == "AddPend"
    clock.when = T0 + 41 * DAY
    mgr.process(ROOT, with_b, clock())
    assert states(mgr)[tag(KSK_B)] == "Valid"


def test_valid_missing_valid_and_keep_missing() -> None:
    clock = FixedClock(T0)
    mgr = with_b_valid(clock)
    result = mgr.process(ROOT, dnskey_rrset([KSK_A, ZSK], [KSK_A]), clock())
    assert [(t.old, t.new, t.event) for t in result.transitions] == \
        [(KeyState.VALID, KeyState.MISSING, "KeyRem")]
    assert tag(KSK_B) in trusted_tags(mgr) and not result.changed    # Missing is trusted
    clock.when += DAY
    result = mgr.process(ROOT, dnskey_rrset([KSK_A, KSK_B, ZSK], [KSK_A]), clock())
    assert [(t.old, t.new, t.event) for t in result.transitions] == \
        [(KeyState.MISSING, KeyState.VALID, "KeyPres")]
    mgr.process(ROOT, dnskey_rrset([KSK_A, ZSK], [KSK_A]), clock())
    clock.when += 365 * DAY
    mgr.process(ROOT, dnskey_rrset([KSK_A, ZSK], [KSK_A]), clock())
    assert states(mgr)[tag(KSK_B)] == "Missing"
    clock.when += DAY                                # keep-missing (366 days) over
    result = mgr.process(ROOT, dnskey_rrset([KSK_A, ZSK], [KSK_A]), clock())
    assert result.changed and tag(KSK_B) not in states(mgr)


def test_missing_key_validates_nothing_new() -> None:
    """A Missing key (B) can still validate the RRset: it stays a trust anchor."""
    clock = FixedClock(T0)
    mgr = with_b_valid(clock)
    mgr.process(ROOT, dnskey_rrset([KSK_A, ZSK], [KSK_A]), clock())
    result = mgr.process(ROOT, dnskey_rrset([KSK_B, ZSK], [KSK_B]), clock())
    assert result.validated
    assert states(mgr) == {tag(KSK_A): "Missing", tag(KSK_B): "Valid"}


def test_revocation_then_removal() -> None:
    clock = FixedClock(T0)
    mgr = with_b_valid(clock)
    rolled = dnskey_rrset([revoked(KSK_A), KSK_B, ZSK], [revoked(KSK_A), KSK_B])
    result = mgr.process(ROOT, rolled, clock())
    assert result.changed
    assert [(t.old, t.new, t.event) for t in result.transitions] == \
        [(KeyState.VALID, KeyState.REVOKED, "RevBit")]
    assert trusted_tags(mgr) == {tag(KSK_B)}
    entry = next(e for e in mgr.status() if e["key_tag"] == tag(KSK_A))
    assert entry["revoked_key_tag"] == tag(revoked(KSK_A)) != tag(KSK_A)
    assert entry["hold_until"] == clock.when + 30 * DAY
    clock.when += 29 * DAY
    mgr.process(ROOT, rolled, clock())
    assert states(mgr)[tag(KSK_A)] == "Revoked"
    clock.when += DAY
    result = mgr.process(ROOT, rolled, clock())
    assert [(t.old, t.new, t.event) for t in result.transitions] == \
        [(KeyState.REVOKED, KeyState.REMOVED, "RemTime")]
    assert not result.changed
    # the unrevoked key published again is never trusted again (s2.1)
    clock.when += DAY
    back = dnskey_rrset([KSK_A, KSK_B, ZSK], [KSK_B])
    mgr.process(ROOT, back, clock())
    clock.when += 31 * DAY
    mgr.process(ROOT, back, clock())
    assert states(mgr)[tag(KSK_A)] == "Removed" and trusted_tags(mgr) == {tag(KSK_B)}


def test_revoked_but_not_self_signed_is_ignored() -> None:
    clock = FixedClock(T0)
    mgr = with_b_valid(clock)
    result = mgr.process(ROOT, dnskey_rrset([revoked(KSK_A), KSK_B, ZSK], [KSK_B]), clock())
    assert result.validated and not result.changed and not result.transitions
    assert states(mgr)[tag(KSK_A)] == "Valid"
    # an RRSIG that claims the revoked key's tag but is made by another key
    rrset = dnskey_rrset([revoked(KSK_A), KSK_B, ZSK], [KSK_B])
    forged = dnskey_rrset([revoked(KSK_A), KSK_B, ZSK], [revoked(KSK_C)])
    sig = bytearray(forged.sigs[0])
    sig[16:18] = tag(revoked(KSK_A)).to_bytes(2, "big")
    rrset.add_sig(bytes(sig))
    mgr.process(ROOT, rrset, clock())
    assert states(mgr)[tag(KSK_A)] == "Valid" and tag(KSK_A) in trusted_tags(mgr)


def test_revoked_unknown_key_is_never_added() -> None:
    clock = FixedClock(T0)
    mgr = manager(None, [key_anchor(KSK_A)], clock)
    mgr.process(ROOT, dnskey_rrset([KSK_A, revoked(KSK_C)], [KSK_A, revoked(KSK_C)]), clock())
    assert states(mgr)[tag(KSK_C)] == "Revoked"
    rrset = dnskey_rrset([KSK_A, KSK_C], [KSK_A])
    mgr.process(ROOT, rrset, clock())
    clock.when += 31 * DAY
    mgr.process(ROOT, rrset, clock())
    assert tag(KSK_C) not in trusted_tags(mgr)


def test_never_empty() -> None:
    """Revoking the last trusted key is refused; the trusted set never empties."""
    clock = FixedClock(T0)
    mgr = manager(None, [ds_anchor(KSK_A)], clock)
    mgr.process(ROOT, dnskey_rrset([KSK_A, ZSK], [KSK_A]), clock())
    clock.when += DAY
    rrset = dnskey_rrset([revoked(KSK_A), KSK_B, ZSK], [revoked(KSK_A), KSK_B])
    result = mgr.process(ROOT, rrset, clock())
    assert not result.validated                      # B is not trusted: nothing validates
    assert states(mgr) == {tag(KSK_A): "Valid"}      # B not even pending
    assert result.warnings and "last trusted key" in result.warnings[0]
    assert trusted_tags(mgr) == {tag(KSK_A)}
    assert "last trusted key" in (mgr.summary()[0]["last_error"] or "")


def test_revocation_accepted_without_validation_when_others_remain() -> None:
    """A self-signed revocation of a known key counts even when the RRset does not
    otherwise validate; pending keys vouched for only by it start over (s2.2)."""
    clock = FixedClock(T0)
    mgr = with_b_valid(clock)
    clock.when += DAY
    mgr.process(ROOT, dnskey_rrset([KSK_A, KSK_B, KSK_C, ZSK], [KSK_A]), clock())
    assert states(mgr)[tag(KSK_C)] == "AddPend"
    clock.when += DAY
    rrset = dnskey_rrset([revoked(KSK_A), KSK_C, ZSK], [revoked(KSK_A), KSK_C])
    result = mgr.process(ROOT, rrset, clock())
    assert not result.validated and result.changed
    assert states(mgr) == {tag(KSK_A): "Revoked", tag(KSK_B): "Valid", tag(KSK_C): "Start"}


def test_nothing_changes_without_validation() -> None:
    clock = FixedClock(T0)
    mgr = manager(None, [key_anchor(KSK_A)], clock)
    cases = [
        dnskey_rrset([KSK_A, KSK_B, ZSK], [KSK_B]),                  # signed by an unknown key
        dnskey_rrset([KSK_B, ZSK], [KSK_B]),                         # the anchor is gone
        dnskey_rrset([KSK_A, KSK_B, ZSK], [KSK_A], expiration=int(T0 - 3600)),  # expired
        dnskey_rrset([KSK_A, KSK_B, ZSK], []),                       # unsigned
    ]
    for rrset in cases:
        result = mgr.process(ROOT, rrset, clock())
        assert not result.validated and result.error and not result.transitions
        assert states(mgr) == {tag(KSK_A): "Valid"}
    other = dnskey_rrset([KSK_A, KSK_B], [KSK_A], zone=Name.from_text("example."))
    assert not mgr.process(ROOT, other, clock()).validated
    summary = mgr.summary()[0]
    assert summary["failures"] == 5 and summary["next_refresh"] == clock.when + 3600


def test_refresh_interval_rfc5011_s2_3() -> None:
    now = T0
    assert refresh_interval(TTL, now + 100 * DAY, now) == TTL / 2
    assert refresh_interval(600, now + 100 * DAY, now) == 3600               # at least 1 h
    assert refresh_interval(40 * DAY, now + 100 * DAY, now) == 15 * DAY       # at most 15 d
    assert refresh_interval(40 * DAY, now + 4 * DAY, now) == 2 * DAY          # sig-expiry/2
    assert refresh_interval(TTL, now + 100 * DAY, now, failed=True) == TTL / 10
    assert refresh_interval(30 * DAY, now + 100 * DAY, now, failed=True) == DAY
    assert refresh_interval(None, None, now, failed=True) == 3600
    clock = FixedClock(T0)
    mgr = manager(None, [key_anchor(KSK_A)], clock)
    assert mgr.next_refresh(clock()) == T0                                    # due at once
    mgr.process(ROOT, dnskey_rrset([KSK_A, ZSK], [KSK_A]), clock())
    assert mgr.next_refresh(clock()) == T0 + TTL / 2


def test_signal_qname_rfc8145() -> None:
    assert signal_qname(ROOT, [0x9728, 0x4F66]) == Name.from_text("_ta-4f66-9728.")
    assert signal_qname(ROOT, []) is None
    clock = FixedClock(T0)
    mgr = manager(None, [key_anchor(KSK_A)], clock)
    assert mgr.signal_qnames() == [Name.from_text(f"_ta-{tag(KSK_A):04x}.")]


def test_bundled_root_anchors_seed() -> None:
    clock = FixedClock(T0)
    mgr = manager(None, list(load_default_anchors(T0)), clock)
    assert {(e["key_tag"], e["type"], e["state"]) for e in mgr.status()} >= \
        {(20326, "DS", "Valid"), (38696, "DS", "Valid")}


# ----------------------------------------------------------------------------- state file
def test_state_file_round_trip(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    mgr = manager(tmp_path, [ds_anchor(KSK_A)], clock)
    path = tmp_path / "root.autotrust.json"
    assert path.exists()
    mgr.process(ROOT, dnskey_rrset([KSK_A, KSK_B, ZSK], [KSK_A]), clock())
    mgr.process(ROOT, dnskey_rrset([KSK_A, KSK_B, revoked(KSK_C)], [KSK_A, revoked(KSK_C)]),
                clock())
    mgr.save()
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["trust_points"][0]["zone"] == "."
    again = manager(tmp_path, [ds_anchor(KSK_A)], FixedClock(T0 + 5))
    assert again.status() == mgr.status()
    assert again.next_refresh() == mgr.next_refresh()
    assert [(p.zone, [k.dnskey for k in p.keys]) for p in read_state_file(path)] == \
        [(ROOT, [k.dnskey for k in mgr.points[ROOT].keys])]
    # the file wins over the configured anchors for the zones it holds
    third = manager(tmp_path, [ds_anchor(KSK_C)], clock)
    assert trusted_tags(third) == {tag(KSK_A)}


def test_state_file_without_trusted_keys_is_reseeded(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    manager(tmp_path, [ds_anchor(KSK_A)], clock)
    path = tmp_path / "root.autotrust.json"
    doc = json.loads(path.read_text())
    for key in doc["trust_points"][0]["keys"]:
        key["state"] = "Removed"
    path.write_text(json.dumps(doc))
    mgr = manager(tmp_path, [ds_anchor(KSK_B)], clock)
    assert states(mgr) == {tag(KSK_B): "Valid"}


@pytest.mark.parametrize("text", [
    "not json", "[]", '{"version": 2, "trust_points": []}',
    '{"version": 1, "trust_points": [{"zone": ".", "keys": [{"state": "Bogus", "since": 1,'
    ' "ds": "AAAA"}]}]}',
    '{"version": 1, "trust_points": [{"zone": ".", "keys": [{"state": "Valid", "since": 1}]}]}',
    '{"version": 1, "trust_points": [{"zone": ".", "keys": [{"state": "Valid", "since": 1,'
    ' "dnskey": "%%%"}]}]}',
])
def test_bad_state_file_is_rejected(tmp_path: Path, text: str) -> None:
    path = tmp_path / "root.autotrust.json"
    path.write_text(text)
    with pytest.raises(AutotrustError, match=r"root\.autotrust\.json"):
        TrustAnchorManager(path, [ds_anchor(KSK_A)], now=FixedClock(T0))


def test_state_file_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FixedClock(T0)
    mgr = manager(tmp_path, [ds_anchor(KSK_A)], clock)
    path = tmp_path / "root.autotrust.json"
    before = path.read_text()
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(autotrust_store.os, "fsync", fsync)
    monkeypatch.setattr(autotrust_store.os, "replace", broken_replace)
    mgr.process(ROOT, dnskey_rrset([KSK_A, KSK_B, ZSK], [KSK_A]), clock())
    with pytest.raises(OSError, match="disk full"):
        mgr.save()
    assert synced                                    # the data reached the disk first
    assert path.read_text() == before                # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]   # no temp file left
    # refresh logs a failed write instead of raising
    changed = asyncio.run(mgr.refresh(_fetch_from(dnskey_rrset([KSK_A, ZSK], [KSK_A])),
                                      clock(), force=True))
    assert changed is False
    monkeypatch.undo()
    mgr.save()
    assert "AddPend" not in path.read_text()         # B came and went while writes failed
    assert states(manager(tmp_path, [], clock)) == {}          # not configured: dropped


def _fetch_from(rrset: RRset | None, error: Exception | None = None
                ) -> Callable[[Name], Coroutine[Any, Any, RRset | None]]:
    async def fetch(zone: Name) -> RRset | None:
        if error is not None:
            raise error
        return rrset
    return fetch


def test_refresh_failures_retry_and_due_points(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    mgr = manager(tmp_path, [ds_anchor(KSK_A)], clock)
    assert asyncio.run(mgr.refresh(_fetch_from(None, TimeoutError("timed out")))) is False
    summary = mgr.summary()[0]
    assert summary["failures"] == 1 and "timed out" in summary["last_error"]
    assert mgr.next_refresh() == T0 + 3600
    stored = json.loads((tmp_path / "root.autotrust.json").read_text())
    assert "timed out" in stored["trust_points"][0]["last_error"]
    good = _fetch_from(dnskey_rrset([KSK_A, ZSK], [KSK_A]))
    assert asyncio.run(mgr.refresh(good)) is False   # not due yet: nothing fetched
    assert mgr.summary()[0]["refreshes"] == 1
    clock.when += 3600
    assert asyncio.run(mgr.refresh(good)) is True    # DS anchor -> DNSKEY anchor
    assert mgr.summary()[0]["last_error"] is None
    assert mgr.report()["keys"][0]["since"] == "2025-10-09T08:53:20Z"


# ----------------------------------------------------------------------------- rollover
ROOT_ADDR = "127.0.0.71"
ROOT_SEED = "rfc5011-rollover"
KSK_OLD = generate(13, f"{ROOT_SEED}/.", ksk=True)       # the signer's own KSK for "."
KSK_NEW = generate(13, "rfc5011-rollover/new", ksk=True)
ROOT_TEXT = f"""\
. 86400 SOA ns.root. hostmaster.root. 1 1800 900 604800 3600
. 86400 NS ns.root.
ns.root. 86400 A {ROOT_ADDR}
mail. 3600 TXT "rolled"
"""


def root_zone(dnskeys: list[SigningKey], signers: list[SigningKey]) -> Any:
    """The root signed by the test signer (ZSK path), with its DNSKEY RRset and its
    RRSIGs replaced: *dnskeys* (and the signer's ZSK) signed by each of *signers*."""
    from resolver.authority.zone import Zone
    records = read_zone_text(ROOT_TEXT, ROOT)
    signed = sign_zone(ROOT, records, SignSpec(algorithm=13, seed=ROOT_SEED,
                                               inception=INCEPTION, expiration=EXPIRATION))
    zsk = next(k for k in signed.keys if not k.is_ksk)
    kept = [rr for rr in signed.records if rr.rtype != RRType.DNSKEY
            and not (rr.rtype == RRType.RRSIG and int.from_bytes(rr.rdata[:2], "big")
                     == RRType.DNSKEY)]
    rrset = dnskey_rrset([*dnskeys, zsk], signers)
    kept += rrset.records() + rrset.sig_records()
    return Zone.from_records(ROOT, kept)


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def test_root_ksk_rollover_on_the_test_network(tmp_path: Path) -> None:
    run(_rollover(tmp_path))


async def _rollover(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    server = AuthServer(ROOT_ADDR, [root_zone([KSK_OLD], [KSK_OLD])])
    await server.start()
    try:
        hints = tmp_path / "root.hints"
        hints.write_text(f". NS ns.root.\nns.root. A {ROOT_ADDR}\n")
        settings = Settings(allow_loopback_upstream=True, upstream_port=server.port,
                            root_hints=hints, cache_size_mb=8.0)
        state = tmp_path / "root.autotrust.json"
        mgr = TrustAnchorManager(state, [ds_anchor(KSK_OLD)], now=clock)
        resolver = Resolver(settings, now=clock, anchors=mgr.anchors())
        old, new = tag(KSK_OLD), tag(KSK_NEW)

        async def fetch_dnskey(zone: Name) -> RRset | None:
            result = await resolver.iterator.resolve(zone, RRType.DNSKEY,
                                                     resolver.iterator.new_state())
            return final_rrset(result, zone, RRType.DNSKEY)

        async def step() -> None:
            """Move to the next refresh, refresh, swap the anchors on a change, and
            check that the answers under the root stay secure."""
            clock.when = max(clock.when, mgr.next_refresh(clock()))
            if await mgr.refresh(fetch_dnskey, clock()):
                resolver.anchors = resolver.finder.anchors = mgr.anchors()
                resolver.keys.clear()
            for qname, qtype in ((ROOT, RRType.SOA), (Name.from_text("mail."), RRType.TXT)):
                answer = await resolver.resolve(qname, qtype)
                assert answer.security == Security.SECURE, (clock.when, qname, answer.reason)

        await step()
        assert states(mgr) == {old: "Valid"}
        assert mgr.status()[0]["type"] == "DNSKEY"

        # 1. KSK-new published, the DNSKEY RRset still signed by KSK-old only
        server.add_zone(root_zone([KSK_OLD, KSK_NEW], [KSK_OLD]))
        published = clock.when
        while states(mgr).get(new) != "AddPend":
            await step()
            assert clock.when < published + 2 * DAY
        pending_since = next(e["since"] for e in mgr.status() if e["key_tag"] == new)
        while clock.when < pending_since + 30 * DAY - DAY:
            await step()
            assert states(mgr)[new] == "AddPend" and new not in trusted_tags(mgr)
        while states(mgr)[new] != "Valid":
            await step()
        assert pending_since + 30 * DAY <= clock.when <= pending_since + 30 * DAY + TTL
        assert trusted_tags(mgr) == {old, new}
        assert json.loads(state.read_text())["trust_points"][0]["keys"][1]["state"] == "Valid"

        # 2. rolled: KSK-new signs, KSK-old published revoked and self-signing
        clock.when += DAY
        server.add_zone(root_zone([revoked(KSK_OLD), KSK_NEW],
                                  [revoked(KSK_OLD), KSK_NEW]))
        while states(mgr)[old] != "Revoked":
            await step()
            assert clock.when < published + 35 * DAY
        revoked_at = next(e["since"] for e in mgr.status() if e["key_tag"] == old)
        assert trusted_tags(mgr) == {new}
        assert [a.rtype for a in resolver.finder.anchors] == [RRType.DNSKEY]
        while states(mgr)[old] != "Removed":
            await step()
            assert states(mgr)[old] == "Revoked" or clock.when >= revoked_at + 30 * DAY
        assert clock.when <= revoked_at + 30 * DAY + TTL
        assert trusted_tags(mgr) == {new}

        # 3. the revoked key leaves the zone; a restart reads the same state back
        server.add_zone(root_zone([KSK_NEW], [KSK_NEW]))
        for _ in range(4):
            await step()
        restarted = TrustAnchorManager(state, [ds_anchor(KSK_OLD)], now=clock)
        assert states(restarted) == {old: "Removed", new: "Valid"}
        assert trusted_tags(restarted) == {new}
        report = restarted.report()
        assert report["trust_points"][0]["trusted_keys"] == 1
        assert {k["key_tag"]: k["state"] for k in report["keys"]} == states(restarted)
    finally:
        await server.stop()
