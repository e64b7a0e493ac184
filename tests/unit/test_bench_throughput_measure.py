"""CPU and memory from /proc, and the throughput benchmark's rates, ratios and table."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import pytest

from ops.bench.throughput.__main__ import parse_args, peer_consistency
from ops.bench.throughput.procstat import (
    CLK_TCK,
    TreeSampler,
    interpolate,
    parse_hwm_kb,
    parse_stat,
    read_cpu,
    read_hwm_kb,
    wait_unreaped,
)
from ops.bench.throughput.results import (
    Measurement,
    median_runs,
    spread_lines,
    summarize,
    table,
)
from ops.bench.throughput.systems import events_total


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_parse_stat_counts_fields_after_the_last_parenthesis() -> None:
    ticks = [3 * CLK_TCK, 2 * CLK_TCK, 5 * CLK_TCK, 1 * CLK_TCK]
    fields = ["S", "1", "1", "1", "0", "-1", "4194304", "10", "0", "0", "0", *map(str, ticks)]
    line = "4242 (we (ird) name) " + " ".join(fields + ["20", "0", "1", "0"])
    times = parse_stat(line)
    assert (times.utime, times.stime, times.cutime, times.cstime) == (3.0, 2.0, 5.0, 1.0)
    assert times.total == 11.0


def test_cpu_of_own_process_matches_os_times() -> None:
    burn(0.3)
    own = read_cpu(os.getpid())
    t = os.times()
    assert own is not None
    expected = t.user + t.system + t.children_user + t.children_system
    assert own.total >= 0.3
    assert abs(own.total - expected) < 0.05


def test_peak_rss_of_own_process_matches_getrusage() -> None:
    block = bytearray(64 * 1024 * 1024)  # touched: resident
    for i in range(0, len(block), 4096):
        block[i] = 1
    hwm = read_hwm_kb(os.getpid())
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    assert hwm is not None
    assert hwm >= 64 * 1024
    assert abs(hwm - maxrss) <= 0.02 * maxrss
    del block


def test_parse_hwm_of_a_zombie_is_none() -> None:
    assert parse_hwm_kb("Name:\tx\nState:\tZ (zombie)\n") is None
    assert parse_hwm_kb("VmPeak:\t 100 kB\nVmHWM:\t  2048 kB\n") == 2048


def test_gone_process_reads_none() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert read_cpu(proc.pid) is None and read_hwm_kb(proc.pid) is None


def test_interpolate_between_samples_and_clamped_at_the_ends() -> None:
    points = [(10.0, 1.0), (12.0, 3.0), (14.0, 3.0)]
    assert interpolate(points, 11.0) == 2.0
    assert interpolate(points, 13.0) == 3.0
    assert interpolate(points, 5.0) == 1.0 and interpolate(points, 99.0) == 3.0
    assert interpolate([], 1.0) is None


BURN_CHILD = (
    "import subprocess, sys, time\n"
    "code = 'import time\\nend = time.process_time() + 0.4\\n'\n"
    "code += 'while time.process_time() < end: pass'\n"
    "subprocess.run([sys.executable, '-c', code], check=True)\n"
    "end = time.process_time() + 0.2\n"
    "while time.process_time() < end: pass\n"
)


def test_sampler_counts_a_tree_with_its_finished_children() -> None:
    proc = subprocess.Popen([sys.executable, "-c", BURN_CHILD])
    sampler = TreeSampler(interval_s=0.05)
    sampler.add(proc.pid, "parent")
    sampler.start()
    assert wait_unreaped(proc.pid, 30)
    sampler.final(proc.pid)
    sampler.stop()
    proc.wait()
    total = sampler.finals[proc.pid]
    # 0.4 s in the grandchild (reaped: in the parent's cutime) + 0.2 s + interpreter starts
    assert 0.6 <= total < 2.0
    assert sampler.cpu_at(time.time()) == pytest.approx(total)
    assert len(sampler.hwm_kb) >= 1 and sampler.peak_rss_kb() > 0


def m(system: str, events: int, wall: float | None, cpu: float | None) -> Measurement:
    return Measurement(system, system.upper(), events, wall, cpu, peak_rss_kb=2048)


def test_rates_and_ratios_to_quix_at_least_once() -> None:
    rows = summarize(
        [
            m("quix-alo", 1000, 1.0, 2.0),  # 1000/s, 500 per CPU-s
            m("shipstream", 1000, 10.0, 20.0),  # 100/s, 50 per CPU-s
            m("raw", 1000, 0.25, 0.5),  # 4000/s, 2000 per CPU-s
            Measurement("quix-eos", "Q", 1000, None, None, error="timed out"),
        ]
    )
    by = {r["system"]: r for r in rows}
    assert (by["quix-alo"]["events_per_s"], by["quix-alo"]["events_per_cpu_s"]) == (1000, 500)
    assert by["shipstream"]["ratio_events_per_s"] == 0.1
    assert by["shipstream"]["ratio_events_per_cpu_s"] == 0.1
    assert by["shipstream"]["cpu_ms_per_event"] == 20.0
    assert (by["raw"]["ratio_events_per_s"], by["raw"]["ratio_events_per_cpu_s"]) == (4.0, 4.0)
    assert by["quix-eos"]["events_per_s"] is None and by["quix-eos"]["ratio_events_per_s"] is None
    assert by["raw"]["peak_rss_mb"] == 2.0
    lines = table(rows)
    assert len(lines) == 2 + 4
    assert "0.10x, 0.10x" in lines[3] and "FAILED: timed out" in lines[5]


def test_repeats_keep_each_systems_median_run_and_list_them_all() -> None:
    runs = [
        m("quix-alo", 1000, 1.0, 2.0),  # 500 per CPU-s
        m("shipstream", 1000, 10.0, 4.0),  # 250
        m("quix-alo", 1000, 1.0, 1.0),  # 1000
        Measurement("shipstream", "S", 1000, None, None, error="stuck"),
        m("quix-alo", 1000, 1.0, 4.0),  # 250
        m("shipstream", 1000, 10.0, 5.0),  # 200
        Measurement("raw", "R", 1000, None, None, error="timed out"),
    ]
    chosen = median_runs(runs)
    assert [c.system for c in chosen] == ["quix-alo", "shipstream", "raw"]
    quix, ship, raw = chosen
    assert quix.cpu_s == 2.0  # 250 < 500 < 1000
    assert ship.cpu_s == 5.0  # of 200 and 250 (the failure left out): the lower middle
    assert raw.error == "timed out"
    assert [r["events_per_cpu_s"] for r in quix.detail["repeats"]] == [500, 1000, 250]
    assert [r["error"] for r in ship.detail["repeats"]] == [None, "stuck", None]
    rows = summarize(chosen)
    assert rows[1]["ratio_events_per_cpu_s"] == 0.4  # 200 / 500
    assert spread_lines(rows)[1:] == [
        "  quix-alo: 500, 1,000, 250 events/CPU-s (median in the table)",
        "  shipstream: 250, -, 200 events/CPU-s (median in the table)",
    ]


def test_no_ratios_without_the_baseline() -> None:
    (row,) = summarize([m("shipstream", 1000, 10.0, 20.0)])
    assert row["ratio_events_per_s"] is None and row["ratio_events_per_cpu_s"] is None


def test_events_total_from_metrics_text_in_any_label_order() -> None:
    text = (
        "# TYPE shipstream_events_total counter\n"
        'shipstream_events_total{outcome="applied",stage="processing"} 2223.0\n'
        'shipstream_events_total{stage="decision",outcome="evaluated"} 17.0\n'
        'shipstream_events_totally{stage="x",outcome="y"} 1.0\n'
    )
    assert events_total(text) == {"processing/applied": 2223.0, "decision/evaluated": 17.0}


def test_peers_agree_only_with_equal_counts() -> None:
    def peer(system: str, decisions: int) -> Measurement:
        stats = {"consumed": 5, "applied": 4, "duplicates": 1, "decisions": decisions}
        return Measurement(system, system, 5, 1.0, 1.0, detail={"stats": stats})

    assert peer_consistency([peer("raw", 2), peer("quix-alo", 2), m("shipstream", 5, 1, 1)])[
        "agree"
    ]
    assert not peer_consistency([peer("raw", 2), peer("quix-alo", 3)])["agree"]


def test_cli_defaults_are_the_chaos_stack_and_systems_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("BENCH_KAFKA_PORT", "BENCH_REGISTRY_PORT", "BENCH_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    a = parse_args([])
    assert (a.events, a.kafka_port, a.registry_port) == (200_000, 19092, 18081)
    monkeypatch.setenv("BENCH_KAFKA_PORT", "29092")
    assert parse_args(["--systems", "raw,quix-alo"]).kafka_port == 29092
    with pytest.raises(SystemExit):
        parse_args(["--systems", "raw,flink"])
