"""Power traces -> joules per inference above idle (pure numpy, no I/O).

Every power source ends as a :class:`PowerTrace` (device-clock seconds, watts). The run's energy
is integrated (trapezoid) over the timed loop only; the idle baseline's mean power times the same
duration is subtracted, so what remains is what the inferences cost on top of a device that is
on, awake and showing the app. The baseline is checked for drift (a device still busy after the
run) and the figure carries its standard uncertainty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

# A phone drawing more than 10 A does not exist; one drawing under 10 mA with its screen on does
# not either. So currents whose largest magnitude is below this are milliamps, not microamps.
MILLIAMP_CEILING = 10_000.0


@dataclass
class PowerTrace:
    """Power samples on the device clock. ``notes`` say how raw readings were interpreted."""

    t_s: np.ndarray
    watts: np.ndarray
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.t_s = np.asarray(self.t_s, dtype=np.float64)
        self.watts = np.asarray(self.watts, dtype=np.float64)
        order = np.argsort(self.t_s, kind="stable")
        self.t_s, self.watts = self.t_s[order], self.watts[order]

    def __len__(self) -> int:
        return int(self.t_s.size)

    def to_json(self) -> list[list[float]]:
        return [[round(float(t), 4), round(float(w), 5)] for t, w in zip(self.t_s, self.watts)]


def _scale(values: np.ndarray, thresholds: list[tuple[float, float, str]]) -> tuple[float, str]:
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    for limit, factor, unit in thresholds:
        if peak >= limit:
            return factor, unit
    return thresholds[-1][1], thresholds[-1][2]


def battery_trace(t_s, current_raw, voltage_raw, discharge_sign: int | None = None) -> PowerTrace:
    """``current_now``/``voltage_now`` readings -> discharge watts.

    The kernel ABI says µA and µV, positive or negative as the vendor pleases: some report mA/mV,
    some count discharge as negative (Pixel), others positive (Samsung). Units are inferred from
    magnitudes; the discharge sign is the sign of the median current unless given (the caller
    knows the battery is discharging). Positive watts = energy leaving the battery.
    """
    current = np.asarray(current_raw, dtype=np.float64)
    voltage = np.asarray(voltage_raw, dtype=np.float64)
    notes = []
    c_factor, c_unit = _scale(current, [(MILLIAMP_CEILING, 1e-6, "µA"), (0.0, 1e-3, "mA")])
    v_factor, v_unit = _scale(voltage, [(1e5, 1e-6, "µV"), (100.0, 1e-3, "mV"), (0.0, 1.0, "V")])
    notes.append(f"current_now read as {c_unit}, voltage_now as {v_unit}")
    if discharge_sign is None:
        median = float(np.median(current)) if current.size else 0.0
        discharge_sign = -1 if median < 0 else 1
    notes.append("discharge current is " + ("negative" if discharge_sign < 0 else "positive") + " on this device")
    amps = current * c_factor * discharge_sign
    volts = voltage * v_factor
    return PowerTrace(t_s, amps * volts, notes)


def counter_trace(t_s, energy_uj, max_range_uj: float | None = None) -> PowerTrace:
    """A cumulative energy counter (RAPL ``energy_uj``) -> mean power between samples.

    The counter wraps at ``max_energy_range_uj``; a negative step is a wrap. Each power value is
    stamped at the midpoint of its interval.
    """
    t = np.asarray(t_s, dtype=np.float64)
    e = np.asarray(energy_uj, dtype=np.float64)
    if t.size < 2:
        return PowerTrace([], [], ["fewer than two counter readings"])
    de = np.diff(e)
    if max_range_uj:
        de = np.where(de < 0, de + max_range_uj, de)
    dt = np.diff(t)
    ok = (dt > 0) & (de >= 0)  # without the range a wrap cannot be undone: drop that interval
    return PowerTrace(((t[1:] + t[:-1]) / 2)[ok], (de[ok] / dt[ok]) * 1e-6, ["RAPL package counter"])


_PMIC = re.compile(r"(\S+?)_([AV])\s+\w+\(\d+\)=([-+0-9.eE]+)[AV]")


def pmic_watts(text: str) -> float | None:
    """Total power of a Pi 5 ``vcgencmd pmic_read_adc`` reading: sum of V·I over the rails that
    report both (``VDD_CORE_A`` with ``VDD_CORE_V``, ...)."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for rail, kind, value in _PMIC.findall(text):
        (amps if kind == "A" else volts)[rail] = float(value)
    rails = amps.keys() & volts.keys()
    if not rails:
        return None
    return sum(amps[r] * volts[r] for r in rails)


def integrate(trace: PowerTrace, start_s: float, end_s: float) -> float:
    """Joules between ``start_s`` and ``end_s``: trapezoid over samples, linearly interpolated at
    the edges (held constant beyond the first/last sample)."""
    if end_s <= start_s or len(trace) == 0:
        return 0.0
    inside = (trace.t_s > start_s) & (trace.t_s < end_s)
    t = np.concatenate([[start_s], trace.t_s[inside], [end_s]])
    w = np.interp(t, trace.t_s, trace.watts)
    return float(np.trapezoid(w, t))


def effective_samples(values) -> float:
    """Effective number of independent samples of an autocorrelated series (AR(1) approximation,
    n·(1−r1)/(1+r1), clamped to [1, n]). Fuel gauges repeat a reading for several samples, so the
    plain n would overstate how much the mean is known."""
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n < 3:
        return float(max(n, 1))
    d = v - v.mean()
    denom = float(np.dot(d, d))
    if denom <= 0:
        return float(n)
    r1 = float(np.dot(d[:-1], d[1:]) / denom)
    r1 = min(max(r1, 0.0), 0.99)
    return float(min(max(n * (1 - r1) / (1 + r1), 1.0), n))


def mean_uncertainty(values) -> float:
    """Standard uncertainty of the mean of ``values`` (sample std / sqrt(effective samples))."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return 0.0
    return float(np.std(v, ddof=1) / np.sqrt(effective_samples(v)))


# a drift between the baseline's halves below this share of the idle power is not worth a warning
STATIONARY_FLOOR = 0.02


def _step_noise(watts: np.ndarray) -> tuple[float, int]:
    """(noise sigma, number of distinct readings) from the changes between consecutive samples:
    the median absolute change ignores a few large steps (the very drift being looked for), and a
    gauge that repeats its reading counts once per new reading. Fewer than 5 changes: a quantised,
    steady supply (sigma 0)."""
    changes = np.diff(watts)
    changes = changes[changes != 0]
    sigma = 1.4826 * float(np.median(np.abs(changes))) / np.sqrt(2) if changes.size >= 5 else 0.0
    return sigma, int(changes.size) + 1


def baseline_stationarity(idle: PowerTrace) -> dict:
    """Is the idle baseline flat? Compares the mean power of its first and second halves (by time):
    a device still busy after the run (or a screen that changed) shows as a drift larger than
    3 standard uncertainties of that difference and than 2 % of the idle power."""
    if len(idle) < 4:
        return {"stationary": None, "reason": "fewer than four baseline samples"}
    middle = (idle.t_s[0] + idle.t_s[-1]) / 2
    first, second = idle.watts[idle.t_s <= middle], idle.watts[idle.t_s > middle]
    if first.size < 2 or second.size < 2:
        first, second = idle.watts[: len(idle) // 2], idle.watts[len(idle) // 2:]
    sigma, _ = _step_noise(idle.watts)
    n1, n2 = _step_noise(first)[1], _step_noise(second)[1]
    m1, m2 = float(first.mean()), float(second.mean())
    drift = m1 - m2
    threshold = max(3 * sigma * float(np.sqrt(1 / n1 + 1 / n2)), STATIONARY_FLOOR * abs(float(idle.watts.mean())))
    return {"stationary": bool(abs(drift) <= threshold), "first_half_w": m1, "second_half_w": m2,
            "drift_w": drift, "threshold_w": threshold}


def energy_above_idle(run: PowerTrace, idle: PowerTrace, start_s: float, end_s: float,
                      inferences: int, tokens_per_inference: int) -> dict:
    """Energy of the timed loop ``[start_s, end_s]`` minus the idle baseline's mean power over
    the same duration, per inference and per token, with its standard uncertainty (from the
    uncertainty of the run's and the baseline's mean power, autocorrelation allowed for) and the
    baseline's stationarity check. Reasons instead of numbers when the traces cannot support them."""
    duration = end_s - start_s
    inside = (run.t_s >= start_s) & (run.t_s <= end_s)
    in_window = int(np.sum(inside))
    if duration <= 0 or inferences <= 0:
        return {"available": False, "reason": "no timed inferences to attribute energy to"}
    if in_window < 2:
        return {"available": False, "reason": f"only {in_window} power samples fell inside the {duration:.3f} s "
                                              "timed loop; use --duration or more --runs"}
    if len(idle) < 2:
        return {"available": False, "reason": "the idle baseline has fewer than two power samples"}
    run_j = integrate(run, start_s, end_s)
    idle_w = float(np.mean(idle.watts))
    above = run_j - idle_w * duration
    uncertainty_j = duration * float(np.hypot(mean_uncertainty(run.watts[inside]), mean_uncertainty(idle.watts)))
    return {
        "available": True,
        "window_s": duration,
        "samples_in_window": in_window,
        "run_mean_w": run_j / duration,
        "idle_mean_w": idle_w,
        "idle_std_w": float(np.std(idle.watts, ddof=1)),
        "idle_samples": len(idle),
        "run_energy_j": run_j,
        "above_idle_j": above,
        "above_idle_uncertainty_j": uncertainty_j,
        "joules_per_inference": above / inferences,
        "joules_per_inference_uncertainty": uncertainty_j / inferences,
        "millijoules_per_token": 1000.0 * above / (inferences * tokens_per_inference),
        "baseline": baseline_stationarity(idle),
    }
