"""What every device transport offers the profiling session (local, adb, ssh)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import edge_time.bundle
from edge_time.errors import EdgeTimeError
from edge_time.profiler.sensors import PROBE_SCRIPT, PowerSource, choose_power_source


class ProfileError(EdgeTimeError):
    """Profiling cannot go on: bad option, device refused, result missing. Names the fix."""


class DeviceLost(ProfileError):
    """The device went away (unplugged, adb offline, ssh dropped) in the middle of a run."""


def isa_family(machine: str) -> str:
    """x86 or arm (any width, any naming: uname, Python, Android ABI); other names as they are."""
    name = machine.strip().lower()
    if name in ("x86_64", "amd64", "x86", "i386", "i486", "i586", "i686"):
        return "x86"
    return "arm" if name.startswith(("arm", "aarch64")) else name


def emulation(kernel: str | None, runtime: str | None) -> dict | None:
    """The runtime's interpreter reports another instruction set than the device's kernel: it ran
    under an emulator (qemu-user, binfmt_misc) or a translator, so its speed is not the device's."""
    if not kernel or not runtime or isa_family(kernel) == isa_family(runtime):
        return None
    return {"kernel": kernel, "runtime": runtime}


@dataclass
class RunConfig:
    """How to time each bundle. ``threads`` 0 = the runtime's default."""

    threads: int = 0
    batch: int = 1
    seq_len: int = 128
    warmup: int = 10
    runs: int = 100
    duration_s: float | None = None
    cooldown_s: float = 0.0
    pin_cores: str = ""
    wait_cool_s: float = 0.0
    power: str = "auto"  # auto | none | battery[:DIR] | rapl[:DIR] | pmic | hwmon:DIR
    sample_period_s: float = 0.05
    timeline_period_s: float = 0.5  # CPU frequency / temperature samples during the run
    settle_s: float = 3.0  # after the run, before the idle baseline
    baseline_min_s: float = 2.0
    baseline_max_s: float = 60.0
    timeout_s: float = 900.0
    battery_unplug: bool = False
    op_profile: bool = False  # after the timed loop, a per-operator trace (perturbs nothing timed)
    op_profile_runs: int = 10

    def validate(self) -> None:
        for name in ("batch", "seq_len"):
            if getattr(self, name) < 1:
                raise ProfileError(f"--{name.replace('_', '-')} must be at least 1")
        if self.threads < 0 or self.warmup < 0 or self.runs < 0:
            raise ProfileError("--threads, --warmup and --runs cannot be negative")
        if self.duration_s is None and self.runs < 1:
            raise ProfileError("--runs must be at least 1 (or use --duration SECONDS)")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ProfileError("--duration must be a positive number of seconds")
        if self.pin_cores and not all(c.strip().isdigit() for c in self.pin_cores.split(",")):
            raise ProfileError(f"--pin-cores {self.pin_cores!r} must be comma-separated CPU ids, e.g. 4,5,6,7")
        if self.settle_s < 0:
            raise ProfileError("--settle cannot be negative")
        if self.sample_period_s <= 0:
            raise ProfileError("the power sample period must be positive")
        if self.timeline_period_s <= 0:
            raise ProfileError("the timeline sample period must be positive")
        if self.op_profile_runs < 1:
            raise ProfileError("--op-profile-runs must be at least 1")

    def runner_args(self) -> list[str]:
        """Arguments of runner.py (the host and board runner) for this config."""
        args = ["--threads", str(self.threads), "--batch", str(self.batch), "--seq-len", str(self.seq_len),
                "--warmup", str(self.warmup), "--runs", str(self.runs)]
        if self.duration_s is not None:
            args += ["--duration", f"{self.duration_s:g}"]
        if self.pin_cores:
            args += ["--pin-cores", self.pin_cores]
        if self.op_profile:
            args += ["--op-profile-runs", str(self.op_profile_runs)]
        return args


@dataclass
class ProfileConfig:
    """Where to profile and where the report goes (``edge-time profile``'s other options): the
    defaults of :func:`edge_time.profiler.open_target`, of ``profile``'s ``out_dir`` and of the CLI."""

    device: str = "local"  # local | adb | adb:SERIAL | ssh://USER@HOST[:PORT]
    ssh_key: str | None = None
    remote_python: str = "python3"  # ssh: the board's Python (with numpy, tokenizers, the runtime)
    remote_dir: str = "/tmp/edge_time"  # ssh: working folder on the board
    accept_new_host: bool = False  # ssh: trust an unknown host key on first contact
    connect_timeout: float = 15.0
    out: Path = Path("profile-out")


@dataclass
class ShellResult:
    rc: int
    stdout: str
    stderr: str = ""


class LineStream(ABC):
    """Lines of a long-running device command (a power sampler); ``close`` stops it."""

    @abstractmethod
    def readline(self) -> str:
        """One line with its newline, or '' at the end."""

    @abstractmethod
    def close(self) -> None: ...


@dataclass
class EnergyContext:
    """Facts about the power supply that decide whether energy figures are valid."""

    charging: bool | None = None
    discharge_sign: int | None = None
    warnings: list[str] = field(default_factory=list)


class Target(ABC):
    """A device to profile on. Subclasses quote every path they put in a shell command."""

    transport: str = ""
    label: str = ""

    @abstractmethod
    def shell(self, script: str, timeout: float = 30.0) -> ShellResult:
        """Run ``script`` in the device's sh; raise DeviceLost if the device is gone."""

    @abstractmethod
    def open_stream(self, script: str) -> LineStream: ...

    @abstractmethod
    def run_benchmark(self, bundle: Path, config: RunConfig, raw_dir: Path) -> dict:
        """Time ``bundle`` on the device; return the device result (schema-valid dict)."""

    def device_info(self) -> dict:
        return {}

    def validate(self, config: RunConfig) -> None:
        """Refuse options this transport cannot honour, before anything runs."""

    def power_source(self, prefer: str) -> tuple[PowerSource | None, str]:
        if prefer == "none":
            return None, "disabled with --power none"
        kind, _, path = prefer.partition(":")
        if kind == "hwmon":
            if not path:
                raise ProfileError("--power hwmon needs the sensor folder, e.g. hwmon:/sys/class/hwmon/hwmon2")
            return PowerSource("hwmon", path), f"hwmon {path}"
        if path and kind in ("battery", "rapl"):
            return PowerSource(kind, path), f"{kind} {path}"
        return choose_power_source(self.shell(PROBE_SCRIPT, timeout=30).stdout, kind)

    def energy_context(self, source: PowerSource | None, config: RunConfig) -> EnergyContext:
        """Charging state of a battery source (Linux power_supply ``status``)."""
        if source is None or source.kind != "battery":
            return EnergyContext()
        status = self.shell(f"cat {_q(source.path)}/status", timeout=15).stdout.strip()
        ctx = EnergyContext(charging=status in ("Charging", "Full"))
        if ctx.charging:
            ctx.warnings.append(f"the battery is {status.lower()}: energy figures include charger current; "
                                "run on battery power")
        return ctx

    def end_app(self) -> None:
        """The run and its idle baseline are over: let the device's app go (Android: the app
        keeps the screen until then, so the baseline sees the same screen as the run)."""

    def app_energy(self, phase: str) -> dict | None:
        """Per-app accounting (Android batterystats): reset at 'start', read at 'stop'."""
        return None

    def close(self) -> None:
        pass


def _q(path: str) -> str:
    import shlex

    return shlex.quote(path)


def load_schema(name: str) -> dict:
    """A schema of this folder with each ``"enumFrom": NAME`` given ``edge_time.bundle.NAME`` as its enum,
    so a new target is named once (in the runtime's runners), not in every schema."""
    schema = json.loads(resources.files("edge_time.profiler").joinpath(name).read_text(encoding="utf-8"))
    _fill_enums(schema)
    return schema


def _fill_enums(node) -> None:
    if isinstance(node, list):
        for item in node:
            _fill_enums(item)
    elif isinstance(node, dict):
        if "enumFrom" in node:
            node["enum"] = list(getattr(edge_time.bundle, node["enumFrom"]))
        for value in node.values():
            _fill_enums(value)


def validate_device_result(data: dict, where: str) -> dict:
    """Check a runner's result against device_result.schema.json; say which field is wrong."""
    import jsonschema

    try:
        jsonschema.validate(data, load_schema("device_result.schema.json"))
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ProfileError(f"{where}: the device result does not follow the schema at {path}: {exc.message}") from exc
    return data


def read_device_result(path: Path, where: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{where}: cannot read the device result {path} ({exc})") from exc
    return validate_device_result(data, where)


def raw_path(raw_dir: Path, name: str) -> Path:
    """Where a bundle's device result is kept: raw/NAME.device.json (NAME-2... if taken)."""
    path, index = raw_dir / f"{name}.device.json", 2
    while path.exists():
        path, index = raw_dir / f"{name}-{index}.device.json", index + 1
    return path


def op_trace_args(config: RunConfig, trace: str) -> list[str]:
    """runner.py's --op-profile PATH when asked for, else nothing."""
    return ["--op-profile", trace] if config.op_profile else []


DEVICE_SIDE_FILES = ("__init__.py", "atomic.py", "bundle.py", "manifest.schema.json", "errors.py",
                     "runtime/__init__.py", "runtime/backends.py", "runtime/tasks.py", "runtime/tokenize.py")


def device_side_files() -> list[tuple[Path, str]]:
    """(local file, relative path) of what a board needs to run runner.py: the pure-Python
    device side of edge_time (bundle, errors, runtime) and the runner itself."""
    package = Path(__file__).resolve().parent.parent
    files = [(package / rel, f"edge_time/{rel}") for rel in DEVICE_SIDE_FILES]
    files.append((package / "profiler" / "runner.py", "runner.py"))
    return files
