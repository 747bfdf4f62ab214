"""Training checkpoints: the student only (never the teacher), optimizer, scheduler, RNG, data position.

Layout under ``RUN/checkpoints``::

    step-00000120/  model.safetensors  optim.pt  rng-0.safetensors ...  state.json
    best-00000100/  model.safetensors  state.json
    latest.json     {"last": "step-00000120", "best": "best-00000100"}

Each folder is written under a temporary name and renamed into place; ``latest.json`` is then
replaced atomically, and only after that are older folders removed, so a kill at any moment
leaves a complete checkpoint behind. Weights and RNG states are safetensors; ``optim.pt``
(optimizer + scheduler state, written by us) is read back with ``weights_only=True``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from edge_time.atomic import staged_folder, write_json_atomic

POINTER = "latest.json"


def read_pointer(folder: Path) -> dict:
    path = folder / POINTER
    return json.loads(path.read_text()) if path.is_file() else {}


def student_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_rng(folder: Path, rank: int) -> None:
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    save_file(states, str(folder / f"rng-{rank}.safetensors"))


def load_rng(folder: Path, rank: int) -> None:
    states = load_file(str(folder / f"rng-{rank}.safetensors"))
    torch.set_rng_state(states["cpu"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])


def save_checkpoint(folder: Path, step: int, model, optimizer, scheduler, state: dict, accelerator,
                    best_weights: dict[str, torch.Tensor] | None = None) -> None:
    """Collective: every rank writes its RNG state, rank 0 the rest; then the pointer moves."""
    name = f"step-{step:08d}"
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{name}.ranks"
    if accelerator.is_main_process:
        staging.mkdir(exist_ok=True)
    accelerator.wait_for_everyone()
    save_rng(staging, accelerator.process_index)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        def write_step(tmp: Path) -> None:
            save_file(student_state(model), str(tmp / "model.safetensors"))
            torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optim.pt")
            for rng in staging.iterdir():
                shutil.move(str(rng), tmp / rng.name)
            write_json_atomic(tmp / "state.json", {"step": step, **state})

        with staged_folder(folder / name, prefix=f".{name}.") as tmp:
            write_step(tmp)
        shutil.rmtree(staging, ignore_errors=True)
        pointer = read_pointer(folder)
        if best_weights is not None:
            best_name = f"best-{state['best_step']:08d}"

            def write_best(tmp: Path) -> None:
                save_file(best_weights, str(tmp / "model.safetensors"))
                write_json_atomic(tmp / "state.json", {"step": state["best_step"], "valid_loss": state["best_valid"]})

            with staged_folder(folder / best_name, prefix=f".{best_name}.") as tmp:
                write_best(tmp)
            pointer["best"] = best_name
        pointer["last"] = name
        write_json_atomic(folder / POINTER, pointer)
        keep = {pointer.get("last"), pointer.get("best")}
        for old in folder.iterdir():
            if old.is_dir() and not old.name.startswith(".") and old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def load_checkpoint(folder: Path, model, optimizer, scheduler, rank: int) -> dict:
    """Restore the last checkpoint into the (unwrapped) model, optimizer and scheduler; return state.json."""
    pointer = read_pointer(folder)
    last = folder / pointer["last"]
    model.load_state_dict(load_file(str(last / "model.safetensors")))
    saved = torch.load(last / "optim.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    load_rng(last, rank)
    return json.loads((last / "state.json").read_text())


def best_weights_path(folder: Path) -> Path | None:
    pointer = read_pointer(folder)
    if pointer.get("best"):
        return folder / pointer["best"] / "model.safetensors"
    if pointer.get("last"):
        return folder / pointer["last"] / "model.safetensors"
    return None
