"""The shipped Prometheus files parse and refer only to metrics kura exports."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from proxy.config import Settings
from proxy.metrics import Metrics
from proxy.ratelimit import QuotaTracker

CONFIG = Path(__file__).resolve().parents[2] / "config" / "prometheus"


def exported_names(tmp_path: Path) -> set[str]:
    metrics = Metrics(QuotaTracker(Settings()), lambda: 0, tmp_path)
    names = set()
    for family in metrics.registry.collect():
        names.add(family.name + ("_total" if family.type == "counter" else ""))
        names.update(sample.name for sample in family.samples)
    return names | {"kura_upstream_ratelimit_limit", "kura_upstream_ratelimit_remaining"}


def test_scrape_config_parses_and_loads_the_alert_rules() -> None:
    document = yaml.safe_load((CONFIG / "prometheus.yml").read_text())
    assert document["rule_files"] == ["alerts.yml"]
    assert all(job["metrics_path"] == "/metrics" for job in document["scrape_configs"])


def test_alert_rules_parse_and_use_exported_metrics(tmp_path: Path) -> None:
    document = yaml.safe_load((CONFIG / "alerts.yml").read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert {"KuraDockerHubQuotaLow", "KuraUpstreamErrors", "KuraCacheDiskNearlyFull"} <= {r["alert"] for r in rules}
    known = exported_names(tmp_path)
    for rule in rules:
        for name in re.findall(r"\bkura_[a-z_]+", rule["expr"]):
            assert name in known, (rule["alert"], name)
