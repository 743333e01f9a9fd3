"""Rate-limit header parsing, 429 classification, forecast and the GET gate."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from proxy.config import Settings, load_settings
from proxy.ratelimit import QuotaTracker, QuotaWithheld
from proxy.upstream.ratelimit_headers import ABUSE, PULL_LIMIT, RateFigure, classify_429, parse_ratelimit
from proxy.upstream.client import UpstreamEvent

HUB_429 = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached..."}]}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def headers(limit: int, remaining: int, window: int = 21600, source: str = "1.2.3.4") -> dict[str, str]:
    return {"ratelimit-limit": f"{limit};w={window}", "ratelimit-remaining": f"{remaining};w={window}",
            "docker-ratelimit-source": source}


def event(clock: Clock, method: str = "GET", status: int = 200, hdrs: dict[str, str] | None = None,
          body: bytes | None = None, kind: str = "manifest") -> UpstreamEvent:
    return UpstreamEvent("docker.io", kind, method, status, hdrs or {}, body, at=clock())


def tracker(clock: Clock, reserve: int = 0) -> QuotaTracker:
    return QuotaTracker(replace(Settings(), quota_reserve=reserve), clock=clock)


@pytest.mark.parametrize("value,expected", [
    ("100;w=21600", RateFigure(100, 21600)),
    (" 76 ; w=21600 ", RateFigure(76, 21600)),
    ("76;w=21600;comment=\"x\"", RateFigure(76, 21600)),
    ("40;foo=bar; w=3600", RateFigure(40, 3600)),
    ("10", RateFigure(10, None)),
    ("", None),
    (None, None),
    ("lots;w=1", None),
])
def test_ratelimit_header_forms(value: str | None, expected: RateFigure | None) -> None:
    assert parse_ratelimit(value) == expected


def test_pull_limit_429_is_json_toomanyrequests_anything_else_is_abuse() -> None:
    assert classify_429(HUB_429) == PULL_LIMIT
    assert classify_429(b"Too Many Requests (HAP429).\n") == ABUSE
    assert classify_429(b"") == ABUSE and classify_429(None) == ABUSE
    assert classify_429(b'{"errors":[{"code":"DENIED"}]}') == ABUSE


def test_every_manifest_response_updates_figures_and_counts() -> None:
    clock = Clock()
    quota = tracker(clock)
    quota.observe(event(clock, "HEAD", 200, headers(100, 100)))
    quota.observe(event(clock, "GET", 200, headers(100, 99)))
    quota.observe(event(clock, "GET", 200, headers(100, 99), kind="blob"))  # not a manifest
    state = quota.state("docker.io")
    assert (state.limit, state.remaining, state.window_s, state.source) == (100, 99, 21600, "1.2.3.4")
    assert (state.manifest_gets, state.manifest_heads, state.pulls_spent) == (1, 1, 1)


def test_headerless_responses_mean_unlimited_only_when_it_persists() -> None:
    clock = Clock()
    quota = tracker(clock)
    quota.observe(event(clock, "GET", 200, headers(10, 0)))
    quota.observe(event(clock, "HEAD", 200, {}))
    assert not quota.state("docker.io").unlimited and quota.mode("docker.io") == "reserve"
    quota.observe(event(clock, "HEAD", 200, {}))
    quota.observe(event(clock, "HEAD", 200, {}))
    assert quota.state("docker.io").unlimited and quota.mode("docker.io") == "normal"
    never_limited = tracker(clock)
    never_limited.observe(event(clock, "GET", 200, {}))
    assert never_limited.state("docker.io").unlimited


def test_forecast_from_spend_rate_and_reset_from_first_spend() -> None:
    clock = Clock()
    quota = tracker(clock)
    start = clock.now
    quota.observe(event(clock, "GET", 200, headers(100, 90)))
    clock.now += 3600
    quota.observe(event(clock, "GET", 200, headers(100, 80)))  # 10 pulls an hour
    state = quota.state("docker.io")
    assert state.spend_rate_per_s() == pytest.approx(10 / 3600)
    assert state.forecast_exhausted_at() == pytest.approx(clock.now + 8 * 3600)
    assert state.reset_estimate() == pytest.approx(start + 21600)


def test_reserve_withholds_gets_with_retry_after_until_window_refills() -> None:
    clock = Clock()
    quota = tracker(clock, reserve=5)
    quota.observe(event(clock, "GET", 200, headers(100, 5)))
    with pytest.raises(QuotaWithheld) as info:
        with quota.spending("docker.io"):
            pass
    assert info.value.status == 429 and "kura's" in info.value.message
    assert 21590 <= int(info.value.headers["Retry-After"]) <= 21600
    clock.now += 21600  # the window has refilled by now
    with quota.spending("docker.io"):
        pass


def test_gets_in_flight_count_against_the_reserve() -> None:
    clock = Clock()
    quota = tracker(clock, reserve=1)
    quota.observe(event(clock, "GET", 200, headers(100, 3)))
    with quota.spending("docker.io"), quota.spending("docker.io"):
        assert quota.mode("docker.io") == "reserve"
    assert quota.mode("docker.io") == "normal"


def test_pull_limit_429_blocks_gets_until_retry_after() -> None:
    clock = Clock()
    quota = tracker(clock)
    quota.observe(event(clock, "GET", 429, {**headers(100, 0), "Retry-After": "120"}, HUB_429))
    assert quota.mode("docker.io") == "limited" and not quota.may_contact("docker.io")
    assert quota.state("docker.io").too_many == {PULL_LIMIT: 1, ABUSE: 0}
    assert quota.state("docker.io").pulls_spent == 0
    assert quota.retry_after_s("docker.io") == 120
    clock.now += 121
    assert quota.mode("docker.io") == "reserve"  # still 0 remaining, reserve 0


def test_abuse_429_without_retry_after_backs_off() -> None:
    clock = Clock()
    quota = tracker(clock)
    quota.observe(event(clock, "HEAD", 429, {}, b"Too Many Requests (HAP429).\n"))
    assert quota.mode("docker.io") == "limited"
    assert quota.state("docker.io").last_429.kind == ABUSE
    assert not quota.state("docker.io").unlimited  # a 429 says nothing about the plan


def test_quota_settings_come_from_environment() -> None:
    settings = load_settings(env={"KURA_QUOTA_RESERVE": "5", "KURA_QUOTA_PROBE_INTERVAL_S": "300",
                                  "KURA_QUOTA_PROBE_REPOSITORY": "me/probe"})
    assert (settings.quota_reserve, settings.quota_probe_interval_s) == (5, 300.0)
    assert settings.quota_probe_repository == "me/probe"
    assert (Settings().quota_reserve, Settings().quota_probe_interval_s) == (0, 0.0)
