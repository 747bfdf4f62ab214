"""Latency over time beside CPU frequency and temperature, sampled on the device during the run.

The sampler is one bounded POSIX sh loop (the same text on the host, over ssh and in Android's
mksh over adb) that reads sysfs with the shell's ``read`` builtin every ``period_s``: no process
per sensor, so at 2 samples/s it costs the device a few syscalls and one ``sleep`` per sample,
not enough to move the timed loop. Each sample is stamped with the device clock that also stamps
the runner's ``started_at_ms``, so samples and inferences share one time axis. A sensor the
device lacks (or hides) is reported "unavailable", never an error.
"""

from __future__ import annotations

from edge_time.profiler.sensors import NOW, parse_snapshot

PERIOD_S = 0.5

_SAMPLE = r"""
for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq; do
  [ -r "$f" ] && read -r v < "$f" && echo "freq ${f#/sys/devices/system/cpu/} $v"
done
for z in /sys/class/thermal/thermal_zone*; do
  [ -r "$z/temp" ] && read -r v < "$z/temp" 2>/dev/null && { n=""; read -r n < "$z/type" 2>/dev/null; echo "thermal $v $n"; }
done
"""


def sampler_script(period_s: float, max_s: float) -> str:
    """A sh loop printing ``tick <device epoch s>`` then that moment's freq/thermal lines, at most
    ``max_s`` seconds long (the profiler closes it as soon as the run is over)."""
    count = max(1, int(max_s / period_s) + 1)
    return (f'i=0; while [ $i -lt {count} ]; do echo "tick {NOW}"; {_SAMPLE.strip()}\n'
            f'i=$((i+1)); sleep {period_s:g}; done')


def parse_samples(lines: list[str]) -> list[tuple[float, dict]]:
    """Sampler lines -> [(device epoch s, snapshot dict)]; a half sample at a disconnect is dropped."""
    samples: list[tuple[float, list[str]]] = []
    for line in lines:
        key, _, rest = line.strip().partition(" ")
        if key == "tick":
            try:
                samples.append((float(rest.strip()), []))
            except ValueError:
                continue
        elif samples:
            samples[-1][1].append(line)
    return [(t, parse_snapshot("\n".join(block))) for t, block in samples]


def _series(samples: list[tuple[float, dict]], key: str) -> dict[str, list[float | None]]:
    names: list[str] = []
    for _, snap in samples:
        names += [n for n in snap[key] if n not in names]
    return {name: [snap[key].get(name) for _, snap in samples] for name in names}


def build_timeline(result: dict, lines: list[str], period_s: float) -> dict:
    """The report's ``timeline``: seconds from the start of the timed loop (device clock) for each
    inference and each sensor sample (negative = during load and warm-up)."""
    latencies = result.get("latencies_ms") or []
    starts = result.get("latency_starts_ms")
    timeline: dict = {"origin": "start of the timed loop (started_at_ms, device clock)", "period_s": period_s}
    if starts is not None and len(starts) == len(latencies):
        timeline["latency_times"] = "measured (latency_starts_ms)"
    else:  # a runner that does not stamp each inference: back to back from the loop start
        starts, total = [], 0.0
        for value in latencies:
            starts.append(total)
            total += value
        timeline["latency_times"] = "estimated: inferences back to back from the loop start"
    timeline["latency"] = {"t_s": [round(s / 1000.0, 6) for s in starts], "ms": list(latencies)}
    samples = parse_samples(lines)
    t0 = result.get("started_at_ms")
    origin = t0 / 1000.0 if t0 is not None else (samples[0][0] if samples else 0.0)
    timeline["samples"] = {"t_s": [round(t - origin, 4) for t, _ in samples],
                           "cpu_freq_mhz": _series(samples, "cpu_freq_mhz"),
                           "temperature_c": _series(samples, "thermal_c")}
    for key, what, label in (("cpu_freq_mhz", "cpufreq/scaling_cur_freq", "cpu_freq"),
                             ("temperature_c", "thermal_zone*/temp", "temperature")):
        if not samples:
            timeline[label] = "unavailable: the sampler returned no samples"
        elif not timeline["samples"][key]:
            timeline[label] = f"unavailable: no readable {what} on this device"
        else:
            timeline[label] = "available"
    return timeline


def timeline_figure(labelled: list[tuple[str, dict]], plt):
    """Stacked panels per run: latency per inference, CPU frequency (mean and max over CPUs) and
    each thermal zone's temperature, on one time axis."""
    import numpy as np

    fig, axes = plt.subplots(3 * len(labelled), 1, figsize=(7, 5.4 * len(labelled)), squeeze=False,
                             sharex=False)
    for index, (label, timeline) in enumerate(labelled):
        lat, freq, temp = axes[3 * index:3 * index + 3, 0]
        lat.plot(timeline["latency"]["t_s"], timeline["latency"]["ms"], ".", ms=2.5)
        lat.set_title(label, fontsize=9), lat.set_ylabel("latency (ms)")
        t = np.asarray(timeline["samples"]["t_s"], dtype=float)
        cpus = timeline["samples"]["cpu_freq_mhz"]
        if cpus:
            values = np.array([[np.nan if v is None else v for v in series] for series in cpus.values()], dtype=float)
            freq.plot(t, np.nanmean(values, axis=0), label="mean over CPUs")
            freq.plot(t, np.nanmax(values, axis=0), lw=0.8, label="max")
            freq.legend(fontsize=7)
        else:
            freq.text(0.5, 0.5, timeline["cpu_freq"], ha="center", va="center", fontsize=8, transform=freq.transAxes)
        freq.set_ylabel("CPU MHz")
        zones = timeline["samples"]["temperature_c"]
        for zone, series in list(zones.items())[:8]:
            temp.plot(t, [np.nan if v is None else v for v in series], lw=0.9, label=zone)
        if zones:
            temp.legend(fontsize=6, ncol=4)
        else:
            temp.text(0.5, 0.5, timeline["temperature"], ha="center", va="center", fontsize=8,
                      transform=temp.transAxes)
        temp.set_ylabel("°C"), temp.set_xlabel("seconds from the start of the timed loop")
        for ax in (lat, freq, temp):
            ax.axvline(0, color="grey", lw=0.5, ls=":")
    fig.tight_layout()
    return fig
