"""Docker Hub's pull quota as kura sees it: header parsing, per-upstream state,
forecast, and the mode that decides whether a manifest GET may be spent.

Facts (SPEC "Facing Docker Hub"): manifest responses, GET and HEAD, success or 429,
carry `ratelimit-limit: N;w=SECONDS`, `ratelimit-remaining: N;w=SECONDS` and
`docker-ratelimit-source`. Only a manifest GET is a pull. A pull-limit 429 has a JSON
body with `TOOMANYREQUESTS`; an abuse-limit 429 has none (or plain text).

Modes, per upstream:
- `limited`: the upstream answered 429; no GET until its `Retry-After` (or the window
  estimate) passes. Cached tags are served stale without contacting it.
- `reserve`: the last known remaining pulls (minus GETs in flight) are at or below
  `quota_reserve`; no GET until fresher figures (free HEADs) or the window's refill.
- `normal`: GETs allowed.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

from .config import Settings
from .errors import TooManyRequests
from .upstream.client import UpstreamEvent
from .upstream.ratelimit_headers import (
    ABUSE,
    PULL_LIMIT,
    classify_429,
    parse_ratelimit,
    parse_retry_after,
)

log = logging.getLogger(__name__)

# A response without headers from an upstream that sent them before means "unlimited"
# only after this many in a row: one odd response must not lift the reserve.
HEADERLESS_STREAK_FOR_UNLIMITED = 3
# A spend rate needs observations this far apart; a burst of seconds says little.
MIN_RATE_SPAN_S = 60.0
ABUSE_BACKOFF_S = 60.0  # an abuse 429 without Retry-After: back off this long


class QuotaWithheld(TooManyRequests):
    """kura, not the upstream, refuses to spend a pull."""


@dataclass(slots=True)
class Last429:
    kind: str  # PULL_LIMIT or ABUSE
    at: float
    retry_after_s: float | None


@dataclass(slots=True)
class UpstreamQuota:
    """What is known of one upstream's quota (mutable; owned by QuotaTracker)."""

    registry: str
    credential: str  # "anonymous" or the account name; never the password
    limit: int | None = None
    remaining: int | None = None
    window_s: int | None = None
    source: str | None = None
    observed_at: float | None = None  # last response that carried the headers
    ever_had_headers: bool = False
    headerless_streak: int = 0
    headerless_since: float | None = None
    manifest_gets: int = 0
    manifest_heads: int = 0
    pulls_spent: int = 0
    pulls_saved: int = 0
    too_many: dict[str, int] = field(default_factory=lambda: {PULL_LIMIT: 0, ABUSE: 0})
    last_429: Last429 | None = None
    blocked_until: float | None = None
    spend_started_at: float | None = None  # first drop below the limit in this window
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=64))
    gets_in_flight: int = 0

    @property
    def unlimited(self) -> bool:
        needed = HEADERLESS_STREAK_FOR_UNLIMITED if self.ever_had_headers else 1
        return self.headerless_streak >= needed

    def reset_estimate(self) -> float | None:
        """When the pulls spent in this window should be back (sliding window: a pull
        made at t returns at t + w, so the first drop we saw + w bounds it)."""
        if self.window_s is None or self.remaining is None or self.limit is None:
            return None
        if self.remaining >= self.limit or self.spend_started_at is None:
            return None
        return self.spend_started_at + self.window_s

    def spend_rate_per_s(self) -> float | None:
        """Pulls per second over the samples of this window (anyone's pulls on the
        same source count: Docker Hub charges the IP or account, not kura)."""
        if len(self.samples) < 2:
            return None
        (t0, r0), (t1, r1) = self.samples[0], self.samples[-1]
        if t1 - t0 < MIN_RATE_SPAN_S or r1 >= r0:
            return None
        return (r0 - r1) / (t1 - t0)

    def forecast_exhausted_at(self) -> float | None:
        rate = self.spend_rate_per_s()
        if rate is None or self.remaining is None or self.observed_at is None:
            return None
        return self.observed_at + self.remaining / rate


class QuotaTracker:
    """Per-upstream quota state fed by upstream observers; the gate for manifest GETs."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.reserve = settings.quota_reserve
        self._clock = clock
        self._states = {
            registry: UpstreamQuota(
                registry, upstream.credential.username if upstream.credential else "anonymous"
            )
            for registry, upstream in settings.upstreams.items()
        }

    def state(self, registry: str) -> UpstreamQuota:
        return self._states[registry]

    def registries(self) -> list[str]:
        return list(self._states)

    # -- observing upstream responses --------------------------------------------------

    def observe(self, event: UpstreamEvent) -> None:
        """An UpstreamClient observer: every manifest response updates the figures."""
        state = self._states.get(event.registry)
        if state is None or event.kind != "manifest" or event.status == 0:
            return
        at = event.at or self._clock()
        if event.method == "GET":
            state.manifest_gets += 1
            state.pulls_spent += event.status < 400
        elif event.method == "HEAD":
            state.manifest_heads += 1
        if event.status == 429:
            self._record_429(state, event, at)
        self._record_headers(state, event.headers, event.status, at)

    def _record_headers(self, state: UpstreamQuota, headers: Mapping[str, str], status: int, at: float) -> None:
        limit = parse_ratelimit(headers.get("ratelimit-limit"))
        remaining = parse_ratelimit(headers.get("ratelimit-remaining"))
        if limit is None or remaining is None:
            if status < 400:  # an abuse 429 or a 404 says nothing about the plan
                state.headerless_streak += 1
                state.headerless_since = state.headerless_since or at
            return
        previous = state.remaining
        state.headerless_streak, state.headerless_since = 0, None
        state.ever_had_headers = True
        state.limit, state.remaining = limit.count, remaining.count
        state.window_s = remaining.window_s or limit.window_s
        state.source = headers.get("docker-ratelimit-source") or state.source
        state.observed_at = at
        window_over = state.spend_started_at is not None and state.window_s is not None \
            and at >= state.spend_started_at + state.window_s
        if previous is None or remaining.count > previous or window_over:
            state.samples.clear()  # a refill: a new window of spending starts
            state.spend_started_at = None
        if state.remaining < state.limit and state.spend_started_at is None:
            state.spend_started_at = at
        state.samples.append((at, remaining.count))

    def _record_429(self, state: UpstreamQuota, event: UpstreamEvent, at: float) -> None:
        kind = classify_429(event.body)
        retry_after = parse_retry_after(event.headers.get("Retry-After"))
        state.too_many[kind] += 1
        state.last_429 = Last429(kind, at, retry_after)
        if retry_after is None:
            retry_after = self._window_wait(state, at) if kind == PULL_LIMIT else ABUSE_BACKOFF_S
        state.blocked_until = at + retry_after
        log.warning(
            "upstream %s answered 429 (%s limit) to a manifest %s; no manifest GETs for %.0f s",
            state.registry, "pull" if kind == PULL_LIMIT else "abuse", event.method, retry_after,
        )

    def _window_wait(self, state: UpstreamQuota, now: float) -> float:
        reset = state.reset_estimate()
        if reset is not None and reset > now:
            return reset - now
        return float(state.window_s or ABUSE_BACKOFF_S)

    def note_saved(self, registry: str) -> None:
        """A client manifest GET answered without an upstream GET."""
        if registry in self._states:
            self._states[registry].pulls_saved += 1

    # -- the policy --------------------------------------------------------------------

    def mode(self, registry: str) -> str:
        state = self._states.get(registry)
        if state is None:
            return "normal"
        now = self._clock()
        if state.blocked_until is not None and now < state.blocked_until:
            return "limited"
        if state.unlimited or state.remaining is None:
            return "normal"
        reset = state.reset_estimate()
        if reset is not None and now >= reset:
            return "normal"  # the figures predate the window's refill
        if state.remaining - state.gets_in_flight <= self.reserve:
            return "reserve"
        return "normal"

    def may_contact(self, registry: str) -> bool:
        """False while limited: do not even revalidate (serve cached tags stale)."""
        return self.mode(registry) != "limited"

    def may_spend(self, registry: str) -> bool:
        """Whether a manifest GET would be allowed now (see spending())."""
        return self.mode(registry) == "normal"

    @contextmanager
    def spending(self, registry: str) -> Iterator[None]:
        """Wrap one manifest GET: raises QuotaWithheld (a 429 with Retry-After) when
        the mode forbids it; counts it in flight so concurrent misses cannot overspend."""
        mode = self.mode(registry)
        if mode != "normal":
            raise self._withheld(registry, mode)
        state = self._states.get(registry)
        if state is None:
            yield
            return
        state.gets_in_flight += 1
        try:
            yield
        finally:
            state.gets_in_flight -= 1

    def retry_after_s(self, registry: str) -> int:
        state, now = self._states[registry], self._clock()
        if state.blocked_until is not None and state.blocked_until > now:
            wait = state.blocked_until - now
        else:
            wait = self._window_wait(state, now)
        return max(1, int(wait + 0.999))

    def _withheld(self, registry: str, mode: str) -> QuotaWithheld:
        retry = self.retry_after_s(registry)
        remaining = self._states[registry].remaining
        if mode == "reserve" and self.reserve > 0:
            message = (
                f"kura's quota reserve for {registry}: {self.reserve} pull(s) are held back and "
                f"the last known remaining is {remaining}; this is kura's reserve, not Docker "
                f"Hub's limit; retry in {retry} s"
            )
        elif mode == "reserve":
            message = (
                f"kura's last rate-limit figures for {registry} show {remaining} pull(s) left; "
                f"kura does not spend a pull that would be refused; retry in {retry} s"
            )
        else:
            message = (
                f"upstream {registry} answered 429 TOOMANYREQUESTS; kura makes no manifest GETs "
                f"there for {retry} s"
            )
        return QuotaWithheld(message, headers={"Retry-After": str(retry)})
