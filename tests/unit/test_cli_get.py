from __future__ import annotations

import argparse

import httpx
import pytest

from streams.settings import Settings
from streams.tools.cli import get
from streams.tools.cli.main import main


def test_url_defaults_to_the_configured_worker_and_escapes_the_id() -> None:
    s = Settings(web_host="10.0.0.5", web_port=6070)
    assert get.default_url(s) == "http://10.0.0.5:6070"
    assert get.shipment_url("http://w:1/", "S 1/2") == "http://w:1/shipments/S%201%2F2"


def _answer(monkeypatch: pytest.MonkeyPatch, response: httpx.Response) -> None:
    def fake_get(url: str, timeout: float) -> httpx.Response:
        return response

    monkeypatch.setattr(get.httpx, "get", fake_get)


def run(*argv: str) -> int:
    args = argparse.Namespace(shipment_id=argv[0], url="http://w:1", timeout=1.0)
    return get.run(args, Settings())


def test_state_is_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _answer(monkeypatch, httpx.Response(200, json={"status": "CREATED"}))
    assert run("S1") == 0
    assert '"status": "CREATED"' in capsys.readouterr().out


def test_unknown_shipment_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _answer(monkeypatch, httpx.Response(404, json={"error": "not_found", "shipment_id": "S9"}))
    assert run("S9") == 0 + 1
    assert capsys.readouterr().err.strip() == "no shipment S9"


def test_a_worker_without_the_route_is_an_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _answer(monkeypatch, httpx.Response(404, text="Not Found"))
    monkeypatch.setattr("sys.argv", ["shipstream"])
    assert main(["get", "S1", "--url", "http://w:1"]) == 2
    err = capsys.readouterr().err
    assert "not a processing" in err and len(err.strip().splitlines()) == 1


def test_connection_refused_names_the_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(url: str, timeout: float) -> httpx.Response:
        msg = "[Errno 111] Connection refused"
        raise httpx.ConnectError(msg)

    monkeypatch.setattr(get.httpx, "get", refuse)
    assert main(["get", "S1", "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shipstream: error: cannot reach a worker at http://127.0.0.1:9/")
    assert "`make up`" in err and "\n" not in err
