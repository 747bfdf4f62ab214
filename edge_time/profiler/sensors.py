"""What to read on a device (shell snippets) and how to read the answers (parsers).

The snippets are constant POSIX sh (the only variable parts are passed through ``shlex.quote``),
so the same text runs on the host, over ssh on a board and in Android's mksh over adb. Samplers
stamp each line with the device clock (``$EPOCHREALTIME`` in mksh/bash, ``date +%s.%N``
elsewhere), the same clock the on-device runner uses for ``finished_at_ms``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from edge_time.profiler.energy import PowerTrace, battery_trace, counter_trace, pmic_watts

NOW = '${EPOCHREALTIME:-$(date +%s.%N)}'

SNAPSHOT_SCRIPT = r"""
for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq; do
  [ -r "$f" ] && read -r v < "$f" && echo "freq ${f#/sys/devices/system/cpu/} $v"
done
for z in /sys/class/thermal/thermal_zone*; do
  [ -r "$z/temp" ] && read -r t < "$z/temp" 2>/dev/null && echo "thermal $t $(cat "$z/type" 2>/dev/null)"
done
if command -v vcgencmd >/dev/null 2>&1; then
  echo "vc_throttled $(vcgencmd get_throttled 2>/dev/null)"
  echo "vc_temp $(vcgencmd measure_temp 2>/dev/null)"
  echo "vc_clock $(vcgencmd measure_clock arm 2>/dev/null)"
fi
if command -v dumpsys >/dev/null 2>&1; then
  dumpsys thermalservice 2>/dev/null | grep 'Thermal Status' | sed 's/^ */android_/'
fi
true
"""

HOT_C = 80.0  # generic Linux: a zone at or above this is treated as throttling


def parse_snapshot(text: str) -> dict:
    """Snapshot text -> {cpu_freq_mhz: {cpu0: ...}, thermal_c: {zone type: °C}, pi: {...}, android: {...}}."""
    snap: dict = {"cpu_freq_mhz": {}, "thermal_c": {}}
    for line in text.splitlines():
        key, _, rest = line.strip().partition(" ")
        if key == "freq":
            name, _, value = rest.partition(" ")
            if value.strip().isdigit():
                snap["cpu_freq_mhz"][name.split("/")[0]] = int(value) / 1000.0
        elif key == "thermal":
            value, _, zone = rest.partition(" ")
            try:
                temp = float(value)
            except ValueError:
                continue
            zone = zone.strip() or f"zone{len(snap['thermal_c'])}"
            while zone in snap["thermal_c"]:
                zone += "'"
            snap["thermal_c"][zone] = temp / 1000.0 if abs(temp) > 1000 else temp
        elif key == "vc_throttled" and (m := re.search(r"throttled=(0x[0-9a-fA-F]+)", rest)):
            snap.setdefault("pi", {})["throttled"] = m.group(1)
        elif key == "vc_temp" and (m := re.search(r"temp=([0-9.]+)", rest)):
            snap.setdefault("pi", {})["temp_c"] = float(m.group(1))
        elif key == "vc_clock" and (m := re.search(r"=(\d+)", rest)):
            snap.setdefault("pi", {})["arm_mhz"] = int(m.group(1)) / 1e6
        elif key == "android_Thermal" and (m := re.search(r"(\d+)", rest)):
            snap.setdefault("android", {})["thermal_status"] = int(m.group(1))
    return snap


# get_throttled bits that mean "slower right now" (bits 16+ are "has happened since boot")
PI_THROTTLE_BITS = {0x1: "under-voltage", 0x2: "ARM frequency capped", 0x4: "currently throttled",
                    0x8: "soft temperature limit"}


def throttling(snapshot: dict) -> list[str]:
    """Reasons the device is throttled now (empty when it is not, or cannot tell)."""
    reasons = []
    if "pi" in snapshot and "throttled" in snapshot["pi"]:
        bits = int(snapshot["pi"]["throttled"], 16)
        reasons += [f"Pi: {name}" for bit, name in PI_THROTTLE_BITS.items() if bits & bit]
    status = snapshot.get("android", {}).get("thermal_status")
    if status:
        reasons.append(f"Android thermal status {status} (0 = none, 1 = light, ... 6 = shutdown)")
    hot = {z: t for z, t in snapshot.get("thermal_c", {}).items() if t >= HOT_C}
    reasons += [f"{zone} at {temp:.0f} °C" for zone, temp in hot.items()]
    return reasons


@dataclass
class PowerSource:
    """One way of reading power on a device: a sampler loop and the parser of its lines."""

    kind: str  # battery | rapl | pmic | hwmon
    path: str = ""

    def sampler(self, period_s: float, max_seconds: float) -> str:
        """A bounded sh loop printing ``<device epoch s> <raw values>`` per sample."""
        count = max(1, int(max_seconds / period_s) + 1)
        p = shlex.quote(self.path)
        read = {
            "battery": f'read -r c < {p}/current_now; read -r v < {p}/voltage_now; echo "$t $c $v"',
            "rapl": f'read -r e < {p}/energy_uj; echo "$t $e $m"',
            "pmic": 'echo "$t $(vcgencmd pmic_read_adc | tr \'\\n\' \' \')"',
            "hwmon": f'read -r w < {p}/power1_input; echo "$t $w"',
        }[self.kind]
        setup = f"read -r m < {p}/max_energy_range_uj 2>/dev/null || m=0; " if self.kind == "rapl" else ""
        return f"{setup}i=0; while [ $i -lt {count} ]; do t={NOW}; {read}; i=$((i+1)); sleep {period_s:g}; done"

    def trace(self, lines: list[str], extra: dict | None = None) -> PowerTrace:
        """Parse sampler lines; malformed lines (a half line at a disconnect) are skipped."""
        rows = []
        for line in lines:
            parts = line.split(None, 1)
            if len(parts) < 2:
                continue
            try:
                t = float(parts[0])
                if self.kind == "pmic":
                    value = pmic_watts(parts[1])
                    if value is None:
                        continue
                    rows.append((t, value))
                else:
                    rows.append((t, *[float(x) for x in parts[1].split()]))
            except ValueError:
                continue
        extra = extra or {}
        if not rows:
            return PowerTrace([], [], ["no readable samples"])
        cols = list(zip(*rows))
        if self.kind == "battery" and len(cols) >= 3:
            return battery_trace(cols[0], cols[1], cols[2], extra.get("discharge_sign"))
        if self.kind == "rapl":
            return counter_trace(cols[0], cols[1], cols[2][0] if len(cols) > 2 else None)
        if self.kind == "hwmon":
            return PowerTrace(cols[0], [w * 1e-6 for w in cols[1]], ["hwmon power1_input (µW)"])
        return PowerTrace(cols[0], cols[1], ["Pi 5 PMIC: sum of V·I over rails"])

    def describe(self) -> str:
        return f"{self.kind}:{self.path}" if self.path else self.kind


# Finds the first usable source on a Linux host or board (Pi 5 PMIC, RAPL, a battery).
PROBE_SCRIPT = r"""
if command -v vcgencmd >/dev/null 2>&1 && vcgencmd pmic_read_adc 2>/dev/null | grep -q '_A '; then echo "pmic"; fi
for d in /sys/class/powercap/intel-rapl:[0-9]; do
  [ -e "$d/energy_uj" ] || continue
  if [ -r "$d/energy_uj" ] && read -r e < "$d/energy_uj" 2>/dev/null; then echo "rapl $d"; else echo "rapl-denied $d"; fi
done
for d in /sys/class/power_supply/*; do
  [ -r "$d/current_now" ] && [ -r "$d/voltage_now" ] && echo "battery $d"
done
true
"""


def choose_power_source(probe_output: str, prefer: str = "auto") -> tuple[PowerSource | None, str]:
    """Pick a source from the probe's answer; returns (source or None, reason/description)."""
    found: list[tuple[str, str]] = []
    denied = []
    for line in probe_output.splitlines():
        kind, _, path = line.strip().partition(" ")
        if kind == "rapl-denied":
            denied.append(path)
        elif kind in ("pmic", "rapl", "battery"):
            found.append((kind, path))
    if prefer not in ("auto", ""):
        kind = prefer
        found = [f for f in found if f[0] == kind]
    batteries = [f for f in found if f[0] == "battery"]
    named = [f for f in batteries if f[1].endswith("/battery")]
    ordered = [f for f in found if f[0] == "pmic"] + [f for f in found if f[0] == "rapl"] + named + batteries
    if ordered:
        kind, path = ordered[0]
        return PowerSource(kind, path), f"{kind} {path}".strip()
    if denied:
        return None, (f"RAPL counters at {denied[0]} are root-only on this kernel; run as root or "
                      f"`sudo chmod a+r {denied[0]}/energy_uj`")
    return None, "no power sensor found (no Pi 5 PMIC, no RAPL in /sys/class/powercap, no battery current_now)"
