"""Statistics, energy integration and sensor parsing on recorded traces with known answers."""

import math

import numpy as np
import pytest

from edge_time.profiler.adb import parse_batterystats_checkin
from edge_time.profiler.energy import (PowerTrace, battery_trace, counter_trace, energy_above_idle, integrate,
                                       pmic_watts)
from edge_time.profiler.sensors import PowerSource, choose_power_source, parse_snapshot, throttling
from edge_time.profiler.stats import latency_summary, throughput


def test_latency_summary_known_answers():
    summary = latency_summary(range(1, 101))
    assert summary["count"] == 100
    assert summary["mean_ms"] == pytest.approx(50.5)
    assert summary["std_ms"] == pytest.approx(math.sqrt(sum((x - 50.5) ** 2 for x in range(1, 101)) / 99))
    assert (summary["min_ms"], summary["max_ms"]) == (1.0, 100.0)
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["p90_ms"] == pytest.approx(90.1)
    assert summary["p99_ms"] == pytest.approx(99.01)
    assert latency_summary([]) == {"count": 0}
    assert latency_summary([3.0])["std_ms"] == 0.0


def test_throughput_counts_sequences_and_tokens():
    result = throughput([10.0, 10.0, 10.0, 10.0], batch=2, seq_len=128)
    assert result["sequences_per_s"] == pytest.approx(200.0)
    assert result["tokens_per_s"] == pytest.approx(25600.0)
    assert throughput([], 1, 8)["sequences_per_s"] is None


@pytest.mark.parametrize("current, voltage, convention", [
    ([-500_000, -500_000], [4_000_000, 4_000_000], "Pixel: µA, negative while discharging"),
    ([500_000, 500_000], [4_000_000, 4_000_000], "Samsung: µA, positive while discharging"),
    ([500, 500], [4000, 4000], "vendor kernels reporting mA and mV"),
    ([-500, -500], [4.0, 4.0], "mA negative, volts"),
])
def test_battery_conventions_normalise_to_the_same_watts(current, voltage, convention):
    trace = battery_trace([0.0, 1.0], current, voltage)
    assert trace.watts == pytest.approx([2.0, 2.0]), convention


def test_battery_sign_follows_the_discharge_side():
    # mostly discharging (negative) with one charging blip: the blip becomes negative power
    trace = battery_trace([0, 1, 2], [-400_000, -400_000, 100_000], [4_000_000] * 3)
    assert trace.watts == pytest.approx([1.6, 1.6, -0.4])


def test_integrate_trapezoid_with_edges():
    flat = PowerTrace([0, 1, 2, 3, 4], [2, 2, 2, 2, 2])
    assert integrate(flat, 1.0, 3.0) == pytest.approx(4.0)
    ramp = PowerTrace([0, 10], [0, 10])  # P = t, energy from 2 to 4 = (16 - 4) / 2
    assert integrate(ramp, 2.0, 4.0) == pytest.approx(6.0)
    assert integrate(flat, 3.0, 3.0) == 0.0


def test_energy_above_idle_on_a_recorded_trace():
    # 10 Hz samples: 1 W idle, 3 W between t=2 s and t=4 s while 40 inferences ran
    t = np.arange(0, 6, 0.1)
    run = PowerTrace(t, np.where((t >= 2) & (t <= 4), 3.0, 1.0))
    idle = PowerTrace(np.arange(0, 2, 0.1), np.full(20, 1.0))
    result = energy_above_idle(run, idle, 2.0, 4.0, inferences=40, tokens_per_inference=128)
    assert result["available"]
    assert result["run_energy_j"] == pytest.approx(6.0)
    assert result["above_idle_j"] == pytest.approx(4.0)
    assert result["joules_per_inference"] == pytest.approx(0.1)
    assert result["millijoules_per_token"] == pytest.approx(100.0 / 128)
    assert result["idle_mean_w"] == pytest.approx(1.0)


def test_energy_refuses_too_few_samples():
    run = PowerTrace([0.0, 5.0], [1.0, 1.0])
    result = energy_above_idle(run, run, 1.0, 1.2, inferences=3, tokens_per_inference=8)
    assert not result["available"] and "power samples" in result["reason"]


def test_rapl_counter_wraps():
    # 10 W for 4 s, sampled every second, counter wraps at 25 J
    readings = [(i * 10_000_000) % 25_000_000 for i in range(5)]
    trace = counter_trace([0, 1, 2, 3, 4], readings, max_range_uj=25_000_000)
    assert trace.watts == pytest.approx([10.0] * 4)
    assert trace.t_s == pytest.approx([0.5, 1.5, 2.5, 3.5])
    unknown_range = counter_trace([0, 1, 2, 3, 4], readings)
    assert unknown_range.watts == pytest.approx([10.0] * 3)  # the wrapped interval is dropped
    parsed = PowerSource("rapl", "/x").trace([f"{i} {r} 25000000\n" for i, r in enumerate(readings)])
    assert parsed.watts == pytest.approx([10.0] * 4)


PI5_PMIC = """     3V7_WL_SW_A current(0)=0.10000000A
     3V3_SYS_A current(1)=0.20000000A
     VDD_CORE_A current(7)=2.00000000A
     3V7_WL_SW_V volt(8)=3.70000000V
     3V3_SYS_V volt(9)=3.30000000V
     VDD_CORE_V volt(15)=0.80000000V
     EXT5V_V volt(24)=5.10000000V
     BATT_V volt(25)=0.00000000V"""


def test_pi5_pmic_sums_rails_with_both_readings():
    assert pmic_watts(PI5_PMIC) == pytest.approx(0.1 * 3.7 + 0.2 * 3.3 + 2.0 * 0.8)
    assert pmic_watts("no rails here") is None
    source = PowerSource("pmic")
    trace = source.trace([f"100.5 {PI5_PMIC.replace(chr(10), ' ')}\n", "garbage\n", "101.0 x\n"])
    assert len(trace) == 1 and trace.watts[0] == pytest.approx(2.63)


def test_snapshot_parsing_and_throttling():
    text = "\n".join([
        "freq cpu0/cpufreq/scaling_cur_freq 1500000", "freq cpu1/cpufreq/scaling_cur_freq 600000",
        "thermal 61850 cpu-thermal", "thermal 85000 soc thermal",
        "vc_throttled throttled=0x50005", "vc_temp temp=61.8'C", "vc_clock frequency(0)=1500000000",
        "android_Thermal Status: 2",
    ])
    snap = parse_snapshot(text)
    assert snap["cpu_freq_mhz"] == {"cpu0": 1500.0, "cpu1": 600.0}
    assert snap["thermal_c"] == {"cpu-thermal": 61.85, "soc thermal": 85.0}
    assert snap["pi"] == {"throttled": "0x50005", "temp_c": 61.8, "arm_mhz": 1500.0}
    reasons = throttling(snap)
    assert "Pi: under-voltage" in reasons and "Pi: currently throttled" in reasons
    assert any("Android thermal status 2" in r for r in reasons)
    assert any("soc thermal" in r for r in reasons)
    assert throttling(parse_snapshot("vc_throttled throttled=0x50000\nthermal 45000 cpu")) == []


def test_batterystats_checkin_power_use_item():
    text = "9,0,i,vers,36,214,TQ3A,TQ3A\n9,10234,l,pwi,uid,1.25,0,0,0\n9,10999,l,pwi,uid,9.0,0,0,0\n"
    assert parse_batterystats_checkin(text, 10234) == pytest.approx(1.25)
    assert parse_batterystats_checkin(text, 10001) is None


def test_power_source_choice():
    probe = "rapl-denied /sys/class/powercap/intel-rapl:0\nbattery /sys/class/power_supply/BAT0\n"
    source, why = choose_power_source(probe)
    assert (source.kind, source.path) == ("battery", "/sys/class/power_supply/BAT0")
    source, why = choose_power_source("rapl-denied /sys/class/powercap/intel-rapl:0\n")
    assert source is None and "root-only" in why
    source, _ = choose_power_source("pmic\nrapl /sys/class/powercap/intel-rapl:0\n")
    assert source.kind == "pmic"
    source, why = choose_power_source("")
    assert source is None and "no power sensor" in why


def test_effective_samples_and_mean_uncertainty_allow_for_repeated_readings():
    from edge_time.profiler.energy import effective_samples, mean_uncertainty

    rng = np.random.default_rng(0)
    white = rng.normal(1.0, 0.1, 400)
    assert effective_samples(np.full(50, 2.0)) == 50.0
    assert 300 < effective_samples(white) <= 400
    assert mean_uncertainty(white) == pytest.approx(0.1 / 20, rel=0.25)
    # a fuel gauge that updates every 10th sample: 40 independent readings, not 400
    held = np.repeat(rng.normal(1.0, 0.1, 40), 10)
    assert effective_samples(held) < 60
    assert mean_uncertainty(held) == pytest.approx(0.1 / np.sqrt(40), rel=0.5)
    assert mean_uncertainty([1.0]) == 0.0


def test_baseline_stationarity_flags_a_device_still_busy():
    from edge_time.profiler.energy import baseline_stationarity

    rng = np.random.default_rng(1)
    t = np.arange(0, 4, 0.05)
    flat = PowerTrace(t, 0.6 + rng.normal(0, 0.02, t.size))
    verdict = baseline_stationarity(flat)
    assert verdict["stationary"] is True and abs(verdict["drift_w"]) < verdict["threshold_w"]
    busy_first = PowerTrace(t, np.where(t < 1.5, 1.7, 0.6) + rng.normal(0, 0.02, t.size))
    verdict = baseline_stationarity(busy_first)
    assert verdict["stationary"] is False
    assert verdict["first_half_w"] > 1.0 > 0.7 > verdict["second_half_w"]
    # a 1 % drift on a very steady supply is below the 2 % floor: not worth a warning
    assert baseline_stationarity(PowerTrace(t, np.where(t < 2, 1.01, 1.0)))["stationary"] is True
    assert baseline_stationarity(PowerTrace([0, 1, 2], [1, 1, 1]))["stationary"] is None


def test_energy_uncertainty_is_zero_for_constant_power_and_shrinks_with_samples():
    t = np.arange(0, 10.001, 0.05)
    steady = energy_above_idle(PowerTrace(t, np.full(t.size, 2.0)), PowerTrace(t, np.full(t.size, 0.5)),
                               1.0, 9.0, inferences=80, tokens_per_inference=16)
    assert steady["joules_per_inference"] == pytest.approx(1.5 * 8 / 80)
    assert steady["joules_per_inference_uncertainty"] == 0.0 and steady["baseline"]["stationary"] is True
    rng = np.random.default_rng(2)
    widths = []
    for step in (0.2, 0.02):
        t = np.arange(0, 10.001, step)
        run = PowerTrace(t, 2.0 + rng.normal(0, 0.2, t.size))
        idle = PowerTrace(t, 0.5 + rng.normal(0, 0.2, t.size))
        e = energy_above_idle(run, idle, 1.0, 9.0, inferences=80, tokens_per_inference=16)
        # the answer (0.15 J) lies within 4 standard uncertainties
        assert abs(e["joules_per_inference"] - 0.15) < 4 * e["joules_per_inference_uncertainty"]
        widths.append(e["joules_per_inference_uncertainty"])
    assert widths[1] < widths[0] / 2


def test_stationarity_counts_a_held_gauge_reading_once():
    """A gauge that repeats each noisy reading 10 times is steady, not drifting, even though
    its half means differ by more than the repeated samples' naive standard error."""
    from edge_time.profiler.energy import baseline_stationarity

    flags = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        t = np.arange(0, 20, 0.05)
        flags += baseline_stationarity(PowerTrace(t, np.repeat(rng.normal(1.0, 0.1, 40), 10)))["stationary"] is False
    assert flags <= 1
