"""`GET /`: a status page a person reads at a glance. Server-rendered HTML, inline CSS,
no JavaScript, no external assets; it refreshes itself every 30 s. Every dynamic
string is escaped; nothing secret is known to it (the tracker's report has none).
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

from aiohttp import web

from .health import cache_bytes_or_zero, readiness_problems
from .keys import SERVICES, Services
from .quota_report import quota_report

STYLE = """
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:#f4f1ea;color:#2b2622}header{background:#3b2f2a;color:#f4f1ea;padding:18px 32px;display:flex;
align-items:baseline;gap:16px}header h1{margin:0;font-size:24px;font-weight:650}
header .sub{opacity:.75}main{max-width:1180px;margin:0 auto;padding:24px 32px}
.grid{display:grid;grid-template-columns:repeat(4,1fr);gap:16px;margin-bottom:24px}
.card{background:#fff;border-radius:10px;padding:16px 18px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card h2{margin:0 0 6px;font-size:13px;text-transform:uppercase;letter-spacing:.06em;color:#7a6e64;font-weight:600}
.big{font-size:30px;font-weight:650}.muted{color:#7a6e64;font-size:13px}
.quota{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px;margin-bottom:24px}
.bar{height:18px;background:#e8e2d8;border-radius:9px;overflow:hidden;margin:10px 0 6px}
.fill{height:100%;border-radius:9px}.ok{background:#4f8a5b}.warn{background:#d29a2d}.bad{background:#b8463a}
.badge{display:inline-block;padding:2px 9px;border-radius:10px;font-size:12px;font-weight:650;color:#fff;
vertical-align:middle;margin-left:8px}dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:10px 0 0}
dt{color:#7a6e64}dd{margin:0}table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:6px 8px;
border-bottom:1px solid #eee7dc}th{font-size:12px;text-transform:uppercase;color:#7a6e64;letter-spacing:.05em}
.n{text-align:right;font-variant-numeric:tabular-nums}.ready{color:#4f8a5b}.unready{color:#b8463a}
"""
MODE_CLASS = {"normal": "ok", "reserve": "warn", "limited": "bad"}


async def status_page(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    cache_bytes = await cache_bytes_or_zero(services)
    problems = await readiness_problems(services)
    body = render(services, cache_bytes, problems)
    return web.Response(text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


def render(services: Services, cache_bytes: int, problems: list[str]) -> str:
    tracker = services.quota
    quota_cards = "".join(_quota_card(r, quota_report(tracker, r)) for r in tracker.registries())
    readiness = ('<span class="ready">ready</span>' if not problems else
                 '<span class="unready">not ready: ' + escape("; ".join(problems)) + "</span>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="30"><meta name="viewport" content="width=device-width">'
        f"<title>kura status</title><style>{STYLE}</style></head><body>"
        '<header><h1>kura</h1>'
        f'<span class="sub">pull-through cache for Docker Hub · {readiness} · '
        f'{escape(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))}</span></header><main>'
        f'<section class="quota">{quota_cards}</section>'
        f"{_summary(services, cache_bytes)}{_top_repositories(services)}</main></body></html>"
    )


def _quota_card(registry: str, report: dict[str, Any]) -> str:
    mode = report["mode"]
    badge = f'<span class="badge {MODE_CLASS.get(mode, "ok")}">{escape(mode)}</span>'
    limit, remaining = report["limit"], report["remaining"]
    if report["unlimited"]:
        gauge = '<div class="big">unlimited</div><div class="muted">no rate-limit headers</div>'
    elif limit is None or remaining is None:
        gauge = ('<div class="big">unknown</div>'
                 '<div class="muted">no rate-limit headers seen yet (try /quota?probe=1)</div>')
    else:
        share = max(0.0, min(1.0, remaining / limit)) if limit else 0.0
        tone = "ok" if share > 0.25 else "warn" if share > 0.10 else "bad"
        gauge = (f'<div class="big">{remaining} <span class="muted">of {limit} pulls left'
                 f' per {_duration(report["window_s"])} ({share * 100:.0f} %)</span></div>'
                 f'<div class="bar"><div class="fill {tone}" style="width:{share * 100:.1f}%"></div></div>')
    rows = [
        ("forecast", _forecast(report)),
        ("window resets", _when(report["reset_estimate"]) or "nothing spent in this window"),
        ("pulls spent / saved", f'{report["pulls_spent"]} / {report["pulls_saved"]}'),
        ("reserve", str(report["reserve"])),
        ("last 429", _last_429(report["last_429"])),
        ("source", escape(report["source"] or "—")),
        ("observed", _when(report["observed_at"]) or "never"),
    ]
    if mode == "limited":
        rows.insert(0, ("GETs paused", f'until {_when(report["blocked_until"])} (upstream 429)'))
    elif mode == "reserve":
        rows.insert(0, ("GETs paused", "kura's reserve reached; cached tags served stale"))
    items = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return (f'<div class="card"><h2>quota · {escape(registry)}{badge}</h2>{gauge}'
            f"<dl>{items}</dl></div>")


def _forecast(report: dict[str, Any]) -> str:
    rate = report["spend_rate_per_hour"]
    if rate is None:
        return "no spend rate yet (needs a minute of figures)"
    exhausted, reset = report["forecast_exhausted_at"], report["reset_estimate"]
    if exhausted and (reset is None or exhausted < reset):
        return f"runs out around {_when(exhausted)} at {rate:.1f} pulls/h"
    return f"lasts until the window resets ({rate:.1f} pulls/h)"


def _last_429(last: dict[str, Any] | None) -> str:
    if last is None:
        return "none"
    kind = "pull limit" if last["kind"] == "pull_limit" else "abuse limit"
    return f"{kind} at {_when(last['at'])}"


def _summary(services: Services, cache_bytes: int) -> str:
    metrics = services.metrics
    answered, total = metrics.lookups()
    ratio = f"{answered / total * 100:.1f} %" if total else "—"
    saved = metrics.sum_of("kura_cache_bytes_served_total", source="cache")
    fills = len(services.blobs.fills)
    cards = [
        ("hit ratio", ratio, f"{answered} of {total} requests without an upstream fetch"),
        ("bytes saved", _bytes(saved), "served from the cache instead of the internet"),
        ("cache size", _bytes(cache_bytes), "verified blobs on disk"),
        ("fills in flight", str(fills), "upstream blob downloads now"),
    ]
    inner = "".join(f'<div class="card"><h2>{name}</h2><div class="big">{escape(value)}</div>'
                    f'<div class="muted">{escape(note)}</div></div>' for name, value, note in cards)
    return f'<section class="grid">{inner}</section>'


def _top_repositories(services: Services) -> str:
    top = services.metrics.repositories.most_common(10)
    if not top:
        rows = '<tr><td colspan="2" class="muted">no pulls yet</td></tr>'
    else:
        rows = "".join(f'<tr><td>{escape(name)}</td><td class="n">{count}</td></tr>' for name, count in top)
    return ('<section class="card"><h2>most pulled repositories</h2><table>'
            f'<tr><th>repository</th><th class="n">pulls through kura</th></tr>{rows}</table></section>')


def _when(iso: str | None) -> str:
    return "" if not iso else escape(iso.replace("T", " ").replace("Z", " UTC"))


def _duration(seconds: int | None) -> str:
    if not seconds:
        return "window"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds} s"


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"
