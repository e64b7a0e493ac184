"""The hub network: reference data shipped with shipstream and published to ``reference.hubs``.

The same file feeds the load generator (routes, transit times) and the pipeline (ETA, window
capacity, alternates), so a demo's generated traffic and the rules agree on one network. Hubs
are plain dicts shaped exactly like the Avro ``Hub`` record, so they can be encoded as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: The shipped network; resolved relative to this module so it works from a wheel too
#: (``*.json`` is package data in pyproject).
DEFAULT_HUBS_PATH = Path(__file__).with_name("hubs.json")

_FIELDS = ("code", "region", "capacity_per_window", "alternate", "transit_hours")


class HubDataError(ValueError):
    """The hub file is not a usable network; the message lists every problem found."""


def load_hubs(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Read and validate a hub network (default: the shipped one).

    Validated on load because a wrong alternate or a missing transit time does not fail loudly
    downstream: it silently turns into an unknown ETA or a reroute to nowhere.
    """
    source = Path(path) if path is not None else DEFAULT_HUBS_PATH
    with source.open(encoding="utf-8") as fh:
        hubs = json.load(fh)
    if not isinstance(hubs, list):
        msg = f"{source}: expected a JSON array of hubs, got {type(hubs).__name__}"
        raise HubDataError(msg)
    validate_hubs(hubs, origin=str(source))
    return hubs


def validate_hubs(hubs: Iterable[Mapping[str, Any]], origin: str = "hubs") -> None:
    """Raise ``HubDataError`` listing every problem, so one run shows all that needs fixing."""
    hubs = list(hubs)
    problems: list[str] = []
    codes = [h.get("code") for h in hubs]
    known = set(codes)
    regions = {h.get("region") for h in hubs}
    seen: set[object] = set()
    for i, hub in enumerate(hubs):
        code = hub.get("code")
        where = f"hub #{i} ({code})"
        missing = [f for f in _FIELDS if f not in hub]
        extra = sorted(set(hub) - set(_FIELDS))
        if missing or extra:
            problems.append(f"{where}: missing fields {missing}, unknown fields {extra}")
            continue
        if not isinstance(code, str) or not code:
            problems.append(f"{where}: code must be a non-empty string")
        if code in seen:
            problems.append(f"{where}: duplicate code")
        seen.add(code)
        if not isinstance(hub["region"], str) or not hub["region"]:
            problems.append(f"{where}: region must be a non-empty string")
        cap = hub["capacity_per_window"]
        if not isinstance(cap, int) or isinstance(cap, bool) or cap <= 0:
            problems.append(f"{where}: capacity_per_window must be a positive int, got {cap!r}")
        alternate = hub["alternate"]
        if alternate is not None and (alternate == code or alternate not in known):
            problems.append(f"{where}: alternate {alternate!r} is itself or not a known hub")
        transit = hub["transit_hours"]
        if not isinstance(transit, dict):
            problems.append(f"{where}: transit_hours must be an object region -> hours")
            continue
        if missing_regions := sorted(str(r) for r in regions - set(transit)):
            problems.append(f"{where}: no transit_hours for regions {missing_regions}")
        bad = {r: h for r, h in transit.items() if not isinstance(h, int) or h <= 0}
        if bad:
            problems.append(f"{where}: transit_hours must be positive ints, got {bad}")
    if problems:
        msg = f"{origin}: invalid hub network:\n  " + "\n  ".join(problems)
        raise HubDataError(msg)


def hubs_by_code(hubs: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Index hubs by code, the key of ``reference.hubs`` and of every lookup the rules make."""
    return {str(h["code"]): h for h in hubs}


def regions_of(hubs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The regions of a network, sorted, for callers that pick origins and destinations."""
    return sorted({str(h["region"]) for h in hubs})
