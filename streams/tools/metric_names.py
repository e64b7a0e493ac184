"""The metric names workers export, and the metric names a PromQL expression reads.

Alert rules and dashboards name metrics by hand. A metric renamed in :mod:`streams.metrics`
would leave an alert that can never fire and a panel that shows "No data", and neither says
so; the ops tests compare the two sets with these functions instead.
"""

from __future__ import annotations

import re

from streams.metrics import Metrics

# Series names in the text exposition, by metric family type (prometheus_client's families
# are named without the suffixes; a counter's family `x` is exposed as `x_total`).
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "unknown": ("",),
}

# Series Prometheus makes itself for every target; PromQL may read them without a worker
# exporting them.
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_TEMPLATE_VAR = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TOKEN = re.compile(
    r"(?P<num>(?:\d*\.)?\d+(?:[eE][+-]?\d+)?[smhdwy]*)|(?P<id>[a-zA-Z_:][a-zA-Z0-9_:]*)"
)
_CALL = re.compile(r"\s*\(")


def exported_names(metrics: Metrics | None = None) -> frozenset[str]:
    """Every series name a worker's ``GET /metrics`` can contain."""
    registry = (metrics or Metrics()).registry
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return frozenset(names)


def promql_metric_names(expr: str) -> frozenset[str]:
    """The metric names an expression selects (not its functions, labels or keywords).

    A lexical scan, not a parser: enough for the expressions we write (selectors, functions,
    aggregations with by/without, binary operators, subqueries) and for Grafana's ``$var``
    placeholders. Label values are dropped with the matchers, so ``{status=~"FAILED_.*"}``
    is not mistaken for a name.
    """
    text = _STRING.sub(" ", expr)
    text = _TEMPLATE_VAR.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names: set[str] = set()
    for m in _TOKEN.finditer(text):
        name = m.group("id")
        if name is None or name.lower() in _KEYWORDS or _CALL.match(text, m.end()):
            continue
        names.add(name)
    return frozenset(names)


def unknown_names(expr: str, exported: frozenset[str]) -> frozenset[str]:
    """Names an expression reads that no worker exports and Prometheus does not make."""
    return promql_metric_names(expr) - exported - SYNTHETIC
