"""The bundle: the contract between the training side and the device side.

A bundle is a folder holding the model file(s) of one export, the tokenizer, label maps and
``manifest.json``. The manifest schema is defined here, once; it is versioned, validated on
read and mirrored by the Android ``core`` module (``android_demo/core``). This module imports only
the standard library (no torch, no numpy) so that every device-side reader can import it; the target
and task names it checks are the runtime's registries, read on first use (see :func:`__getattr__`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from edge_time.atomic import staged_folder
from edge_time.errors import EdgeTimeError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
QUANTIZATIONS = ("none", "fp16", "int8-dynamic", "int8-static")
DTYPES = ("int32", "int64", "float32", "float16", "bool")
ROBERTA_POSITIONS = ("roberta", "xlm-roberta", "camembert")  # model types numbering positions from pad_id + 1


def __getattr__(name: str) -> tuple[str, ...]:
    """``TARGETS`` and ``TASKS``, the manifest's names, come from the device side's one list of each
    (``runtime.backends.RUNNERS``, ``runtime.tasks.TASK_GRAPHS``): a target or task is added there
    alone. Read on use, as those modules import this one."""
    if name == "TARGETS":
        from edge_time.runtime.backends import RUNNERS

        return tuple(RUNNERS)
    if name == "TASKS":
        from edge_time.runtime.tasks import TASK_GRAPHS

        return ("encoder", *TASK_GRAPHS)  # "encoder": a plain encoder, no task head
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def position_offset(model_type: str, pad_id: int) -> int:
    """The first position id: RoBERTa-style models number positions from ``pad_id + 1``, BERT from 0.
    The one place that knows it: tokenizers, exported encoders, students cut from teachers."""
    return pad_id + 1 if model_type in ROBERTA_POSITIONS else 0


class BundleError(EdgeTimeError):
    """A bundle is missing, malformed, tampered with or unsafe. The message says which file."""


@dataclass
class TensorSpec:
    """One graph input or output. ``shape`` mixes ints and axis names ("batch", "seq", ...)."""

    name: str
    dtype: str
    shape: list[int | str]

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise BundleError(f"tensor {self.name!r}: dtype {self.dtype!r} is not one of {DTYPES}")


@dataclass
class GraphFile:
    """One model file. ``seq_len`` is set for fixed-shape buckets (TFLite), None when dynamic."""

    file: str
    seq_len: int | None = None
    batch: int | None = None


@dataclass
class TokenizerInfo:
    file: str = "tokenizer.json"
    kind: str = "wordpiece"  # wordpiece | unigram | bpe
    lowercase: bool = False
    pad_id: int = 0
    cls_id: int | None = None
    sep_id: int | None = None
    unk_id: int | None = None
    # "roberta" positions start at pad_id + 1; "bert" positions start at 0.
    position_style: str = "bert"

    @property
    def position_offset(self) -> int:
        return position_offset(self.position_style, self.pad_id)


@dataclass
class Manifest:
    target: str
    quantization: str
    task: str
    graphs: list[GraphFile]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    axes: dict[str, list[int]]  # axis name -> [min, max]
    max_length: int
    tokenizer: TokenizerInfo
    source: dict[str, Any]  # {"model": id or path, "sha256": hash of the weights, "architecture": ...}
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    labels: dict[str, list[str]] = field(default_factory=dict)
    task_config: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    android: dict[str, Any] = field(default_factory=dict)
    # the runtime that verified the graphs at export ({"name", "version"}, plus the converter that
    # wrote them): the Android app checks it against its own pinned runtime. None in older bundles.
    runtime: dict[str, Any] | None = None
    edge_time_version: str = ""
    schema_version: int = SCHEMA_VERSION

    def validate(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise BundleError(
                f"manifest schema_version {self.schema_version} is not supported by this edge-time "
                f"(reads {SCHEMA_VERSION}); re-export the bundle with this version"
            )
        targets, tasks = __getattr__("TARGETS"), __getattr__("TASKS")
        if self.target not in targets:
            raise BundleError(f"manifest target {self.target!r} is not one of {targets}")
        if self.quantization not in QUANTIZATIONS:
            raise BundleError(f"manifest quantization {self.quantization!r} is not one of {QUANTIZATIONS}")
        if self.task not in tasks:
            raise BundleError(f"manifest task {self.task!r} is not one of {tasks}")
        if not self.graphs:
            raise BundleError("manifest lists no model file under 'graphs'")
        for spec in self.inputs + self.outputs:
            for dim in spec.shape:
                if isinstance(dim, str) and dim not in self.axes:
                    raise BundleError(f"tensor {spec.name!r} uses axis {dim!r} that 'axes' does not bound")
        for rel in [g.file for g in self.graphs] + [self.tokenizer.file]:
            if rel not in self.files:
                raise BundleError(f"manifest does not list a sha256 for {rel!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Manifest":
        try:
            data = dict(data)
            data["graphs"] = [GraphFile(**g) for g in data["graphs"]]
            data["inputs"] = [TensorSpec(**t) for t in data["inputs"]]
            data["outputs"] = [TensorSpec(**t) for t in data["outputs"]]
            data["tokenizer"] = TokenizerInfo(**data["tokenizer"])
            manifest = cls(**data)
        except (KeyError, TypeError) as exc:
            raise BundleError(f"manifest.json is malformed ({exc}); re-export the bundle") from exc
        manifest.validate()
        return manifest

    def graph_for(self, seq_len: int) -> GraphFile:
        """The model file that serves ``seq_len`` tokens: the dynamic graph, or the smallest bucket."""
        dynamic = [g for g in self.graphs if g.seq_len is None]
        if dynamic:
            return dynamic[0]
        fitting = sorted((g for g in self.graphs if g.seq_len >= seq_len), key=lambda g: g.seq_len)
        if not fitting:
            largest = max(g.seq_len for g in self.graphs)
            raise BundleError(f"{seq_len} tokens exceed the largest exported bucket ({largest}); "
                              f"truncate or re-export with --seq-buckets including {seq_len}")
        return fitting[0]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def safe_join(root: Path, relative: str) -> Path:
    """Resolve ``relative`` inside ``root``; refuse absolute paths and anything escaping the folder."""
    if not relative or os.path.isabs(relative) or "\\" in relative:
        raise BundleError(f"bundle path {relative!r} must be a relative path inside the bundle")
    root_resolved = root.resolve()
    candidate = (root_resolved / relative).resolve()
    if candidate != root_resolved and root_resolved not in candidate.parents:
        raise BundleError(f"bundle path {relative!r} escapes the bundle folder {root}")
    return candidate


def read_manifest(bundle_dir: str | os.PathLike, verify: bool = True, unfinished_ok: bool = False) -> Manifest:
    """Read and validate ``manifest.json``; with ``verify``, check every listed file's sha256.

    An unfinished bundle (an export in progress or killed) is refused, except by the exporter that
    checks its own staging folder (``unfinished_ok``).
    """
    root = Path(bundle_dir)
    if not root.is_dir():
        raise BundleError(f"bundle folder {root} does not exist; pass the folder `edge-time export` wrote")
    if not unfinished_ok and (root / INCOMPLETE_NAME).exists():
        raise BundleError(f"{root} is an unfinished bundle (its export was interrupted); export it again")
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(f"{root} has no {MANIFEST_NAME}; it is not an edge-time bundle")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BundleError(f"{path}: not UTF-8 text (byte {exc.start}); the manifest is corrupt, re-export the "
                          f"bundle") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}; re-export the bundle") from None
    check_manifest_schema(data, path)
    manifest = Manifest.from_dict(data)
    for rel in manifest.files:
        safe_join(root, rel)
    if verify:
        verify_files(root, manifest)
    return manifest


_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _schema_error(value: Any, schema: dict, root: dict, where: list) -> tuple[list, str] | None:
    """The first place where ``value`` breaks ``schema`` as (path, message), or None.

    Covers the JSON-schema keywords manifest.schema.json uses (type, enum, required, properties,
    additionalProperties, items, minItems, maxItems, minimum, minLength, pattern, $ref), in the
    standard library: bundle readers on boards and phones have no jsonschema. A test checks it
    against jsonschema on malformed manifests.
    """
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds

        def is_kind(kind: str) -> bool:
            if kind == "integer":
                return isinstance(value, int) and not isinstance(value, bool)
            if kind == "number":
                return isinstance(value, (int, float)) and not isinstance(value, bool)
            return isinstance(value, _JSON_TYPES[kind])

        if not any(is_kind(k) for k in kinds):
            return where, f"{json.dumps(value)[:60]} is not of type {' or '.join(kinds)}"
    if "enum" in schema and value not in schema["enum"]:
        return where, f"{value!r} is not one of {schema['enum']}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return where, f"{key!r} is a required property"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                found = _schema_error(item, properties[key], root, where + [key])
            elif extra is False:
                return where, f"unexpected property {key!r}"
            elif isinstance(extra, dict):
                found = _schema_error(item, extra, root, where + [key])
            else:
                found = None
            if found:
                return found
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            return where, f"has {len(value)} items, expected {schema.get('minItems', 0)}..{schema.get('maxItems', 'any')}"
        for index, item in enumerate(value):
            found = "items" in schema and _schema_error(item, schema["items"], root, where + [index])
            if found:
                return found
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < schema.get("minimum", value):
        return where, f"{value} is less than the minimum of {schema['minimum']}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return where, f"{value!r} is too short"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return where, f"{value!r} does not match {schema['pattern']!r}"
    return None


def check_manifest_schema(data: Any, where: Path | str = MANIFEST_NAME) -> None:
    """Check the types of a manifest against ``manifest.schema.json`` (the document readers on other
    platforms follow), so a malformed field is named instead of failing deep inside a runtime."""
    schema = json.loads((Path(__file__).parent / "manifest.schema.json").read_text(encoding="utf-8"))
    error = _schema_error(data, schema, schema, [])
    if error is not None:
        field_path = "/".join(str(p) for p in error[0]) or "(top level)"
        raise BundleError(f"{where}: manifest field {field_path}: {error[1]}; re-export the bundle")


def verify_files(root: Path, manifest: Manifest) -> None:
    for rel, expected in manifest.files.items():
        file_path = safe_join(root, rel)
        if not file_path.is_file():
            raise BundleError(f"bundle file {rel} is missing from {root}; re-export the bundle")
        actual = sha256_file(file_path)
        if actual != expected:
            raise BundleError(f"bundle file {rel} does not match its sha256 in manifest.json "
                              f"(tampered or corrupted); re-export the bundle")


def check_replaceable(final: str | os.PathLike, overwrite: bool, marker: str) -> None:
    """Refuse to replace ``final`` unless asked to and it is a folder edge-time wrote (it holds ``marker``).

    ``--overwrite`` must never delete a user's notes or a file given as ``--out`` by mistake.
    """
    final = Path(final)
    if not final.exists() and not final.is_symlink():
        return
    if not overwrite:
        raise BundleError(f"output {final} already exists; choose another --out or pass --overwrite")
    if final.is_symlink() or not final.is_dir() or not (final / marker).is_file():
        raise BundleError(f"--overwrite refuses to replace {final}: it is not a folder edge-time wrote (no "
                          f"{marker} inside); remove it yourself or choose another --out")


INCOMPLETE_NAME = ".edge_time_incomplete"  # in a folder still being written; readers refuse it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_staging(final: Path) -> list[Path]:
    """Remove staging folders of ``final`` left by killed runs on this host (their writer is gone)."""
    removed = []
    parent = final.parent if str(final.parent) else Path(".")
    for folder in parent.glob(f".{final.name}.*.tmp"):
        marker = folder / INCOMPLETE_NAME
        try:
            text = marker.read_text(encoding="utf-8") if marker.exists() else ""
        except OSError:
            continue  # unreadable: leave it
        if not text:
            # killed between creating the folder and writing its marker's content (a marker file can exist
            # still empty): nothing else inside, and the writer's pid is in the folder's name
            pid = folder.name[len(final.name) + 2:].split(".", 1)[0]
            if pid.isascii() and pid.isdigit() and not _alive(int(pid)) and all(p == marker for p in folder.iterdir()):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            continue
        try:
            owner = json.loads(text)
        except ValueError:
            continue  # unreadable: leave it
        if isinstance(owner, dict) and owner.get("host") == os.uname().nodename and not _alive(int(owner.get("pid", 0))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def staging_dir(final: str | os.PathLike, overwrite: bool = False, marker: str = MANIFEST_NAME) -> Iterator[Path]:
    """Yield a temp folder beside ``final``; on success rename it into place, on error remove it.

    The rename is atomic on one filesystem, so a reader never sees a half-written bundle, and a
    failed export leaves nothing behind (an existing bundle is only replaced after success). An
    existing ``final`` is replaced only with ``overwrite`` and only when it holds ``marker`` (the
    file that says which edge-time command wrote it: a bundle's manifest, a task model's spec).
    """
    final = Path(final)
    parent = final.parent if str(final.parent) else Path(".")
    check_replaceable(final, overwrite, marker)
    with contextlib.ExitStack() as stack:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            clean_stale_staging(final)
            tmp = stack.enter_context(staged_folder(final, prefix=f".{final.name}.{os.getpid()}."))
            (tmp / INCOMPLETE_NAME).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
        except OSError as exc:
            raise BundleError(f"cannot write to {parent} ({exc.strerror}); choose a writable --out") from exc
        yield tmp
    # Only now, in place: a kill before this line leaves a folder that readers refuse and --overwrite replaces.
    (final / INCOMPLETE_NAME).unlink()


def write_manifest(bundle_dir: Path, manifest: Manifest) -> None:
    """Hash every file in the folder (except the manifest), validate, and write manifest.json."""
    manifest.files = {
        str(p.relative_to(bundle_dir)): sha256_file(p)
        for p in sorted(bundle_dir.rglob("*"))
        if p.is_file() and p.name not in (MANIFEST_NAME, INCOMPLETE_NAME)
    }
    manifest.validate()
    (bundle_dir / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
