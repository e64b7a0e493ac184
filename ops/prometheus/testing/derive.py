"""Alert rules for a test run, derived from ops/prometheus/rules/shipstream.yml.

A test cannot wait the 5-10 minutes the production rules wait, nor produce 10,000 records of
lag in a few seconds on a laptop. So the test loads rules derived from the real file: same
groups, same alert names, same expressions, labels and annotations, with only time and scale
changed:

- every ``for:`` and every range window (``[5m]``, and ``[5m:30s]`` of a subquery) is divided
  by ``Speedup.time_factor``, with a floor so a window still spans a few 1 s scrapes;
- in the consumer-lag alerts (those whose expression reads ``shipstream_consumer_lag``), every
  comparison with a number (``> 10000``, ``> 5`` per second) is multiplied by
  ``Speedup.lag_factor``: lag and its growth are records, and a test produces fewer.

Nothing else is touched, so the expressions the test exercises are the ones that page.

    python -m ops.prometheus.testing.derive --out /tmp/rules.yml   # look at what a test loads
"""

from __future__ import annotations

import argparse
import copy
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "ops" / "prometheus" / "rules" / "shipstream.yml"
LAG_METRIC = "shipstream_consumer_lag"

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
# [range] or [range:resolution] (subquery); the resolution may be empty
_RANGE = re.compile(r"\[(?P<range>[0-9a-z]+)(?P<sub>:(?P<step>[0-9a-z]*))?\]")
# a comparison with a number: `> 10000`, `>= bool 0.5`; not `== 0` inside a label matcher,
# which is `=`/`=~` followed by a quoted string and never a bare number
_COMPARISON = re.compile(
    r"(?P<op>>=|<=|==|!=|>|<)(?P<sp>\s*)(?P<bool>bool\s+)?(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
    r"(?![0-9a-z.])"
)


class DeriveError(ValueError):
    """The rules file holds something the derivation does not know how to shorten."""


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL) as literal blocks, as in the source file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


@dataclass(frozen=True)
class Speedup:
    """How much faster and smaller the derived rules are than the real ones."""

    #: ``for:`` and range windows are divided by this (5m -> 10 s at 30).
    time_factor: float = 30.0
    #: No ``for:`` shorter than this (seconds); keep it at least the evaluation interval.
    min_for_s: float = 2.0
    #: No range window shorter than this (seconds): a rate needs several scrapes in it.
    min_range_s: float = 5.0
    #: Thresholds of the lag alerts are multiplied by this (10000 -> 1000 at 0.1).
    lag_factor: float = 0.1

    def __post_init__(self) -> None:
        if self.time_factor < 1 or not 0 < self.lag_factor <= 1:
            msg = f"need time_factor >= 1 and 0 < lag_factor <= 1, got {self}"
            raise DeriveError(msg)


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``5m``, ``1h30m`` or ``250ms``."""
    if not _DURATION.match(text):
        msg = f"{text!r} is not a Prometheus duration (e.g. 30s, 5m, 1h30m)"
        raise DeriveError(msg)
    return sum(int(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(text))


def format_duration(seconds: float) -> str:
    """A Prometheus duration for ``seconds``: whole seconds, or milliseconds below that."""
    if seconds >= 1 and math.isclose(seconds, round(seconds)):
        return f"{round(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


def shorten(text: str, factor: float, floor_s: float) -> str:
    """``text`` (a duration) divided by ``factor``, rounded to whole seconds, at least floor."""
    seconds = parse_duration(text) / factor
    return format_duration(max(floor_s, float(round(seconds))))


def shorten_ranges(expr: str, speedup: Speedup) -> str:
    """Every range window of ``expr`` shortened (subquery resolutions too)."""

    def replace(m: re.Match[str]) -> str:
        window = shorten(m["range"], speedup.time_factor, speedup.min_range_s)
        if m["sub"] is None:
            return f"[{window}]"
        step = m["step"]
        resolution = shorten(step, speedup.time_factor, 1.0) if step else ""
        return f"[{window}:{resolution}]"

    return _RANGE.sub(replace, expr)


def scale_thresholds(expr: str, factor: float) -> str:
    """Every number compared with in ``expr`` multiplied by ``factor``."""

    def replace(m: re.Match[str]) -> str:
        value = float(m["num"]) * factor
        number = f"{value:.6g}"
        return f"{m['op']}{m['sp']}{m['bool'] or ''}{number}"

    return _COMPARISON.sub(replace, expr)


def is_lag_rule(rule: dict[str, Any]) -> bool:
    """Whether the rule's expression reads the consumer lag metric."""
    return re.search(rf"\b{LAG_METRIC}\b", str(rule.get("expr", ""))) is not None


def derive_rule(rule: dict[str, Any], speedup: Speedup) -> dict[str, Any]:
    """One rule, shortened; everything but ``expr`` and ``for`` is kept as it is."""
    out = copy.deepcopy(rule)
    if re.search(r"\boffset\b|@", str(rule["expr"])):
        # an offset or @ modifier would need shifting too; refuse rather than half-derive
        msg = f"rule {rule.get('alert') or rule.get('record')}: offset/@ is not supported"
        raise DeriveError(msg)
    expr = shorten_ranges(str(rule["expr"]), speedup)
    if is_lag_rule(rule):
        expr = scale_thresholds(expr, speedup.lag_factor)
    out["expr"] = expr
    if "for" in rule:
        out["for"] = shorten(str(rule["for"]), speedup.time_factor, speedup.min_for_s)
    return out


def derive(doc: dict[str, Any], speedup: Speedup) -> dict[str, Any]:
    """A rules document (``{"groups": [...]}``) with every rule derived."""
    groups = doc.get("groups")
    if not isinstance(groups, list) or not groups:
        msg = "a rules file must hold a non-empty list of groups"
        raise DeriveError(msg)
    out = copy.deepcopy(doc)
    for group in out["groups"]:
        group["rules"] = [derive_rule(r, speedup) for r in group["rules"]]
        if "interval" in group:
            group["interval"] = shorten(str(group["interval"]), speedup.time_factor, 1.0)
    return out


def dump(doc: dict[str, Any]) -> str:
    """YAML text of a rules document, PromQL kept readable."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=4096)


def derive_file(dest: Path, speedup: Speedup, source: Path = RULES) -> Path:
    """Write the rules derived from ``source`` to ``dest``; returns ``dest``."""
    doc = yaml.safe_load(source.read_text())
    header = (
        f"# DERIVED from {source.name} for a test run: for/ranges / {speedup.time_factor:g}, "
        f"lag thresholds x {speedup.lag_factor:g}. Do not edit; see {__name__}.\n"
    )
    dest.write_text(header + dump(derive(doc, speedup)))
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or print) the derived rules."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="write here (default: print)")
    p.add_argument("--time-factor", type=float, default=Speedup.time_factor)
    p.add_argument("--lag-factor", type=float, default=Speedup.lag_factor)
    args = p.parse_args(argv)
    speedup = Speedup(time_factor=args.time_factor, lag_factor=args.lag_factor)
    if args.out:
        derive_file(args.out, speedup)
    else:
        sys.stdout.write(dump(derive(yaml.safe_load(RULES.read_text()), speedup)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
