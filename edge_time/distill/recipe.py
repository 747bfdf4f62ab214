"""The distillation recipe, top to bottom: ``distill(DistillConfig(...))``.

1. check the configuration (before anything is written) and fill the budget from the device's
preset (:mod:`edge_time.distill.defaults`), 2. tokenize the corpus with the teacher tokenizer into
chunks and trim the vocabulary (steps 1 and 2 live in :mod:`edge_time.distill.prepare`), 3. build the frozen teacher (cut after layer L) and the BERT
student, cut out of the teacher (:mod:`edge_time.distill.selection`) or random, 4. train with
accelerate (one CPU, DDP over GPUs/nodes, bf16 autocast where the hardware has native bf16),
validating and checkpointing every ``save_every`` steps, 5. write the best student as a Hugging
Face folder with the trimmed tokenizer, config and model card.

Run folder (``out``): the final model files, ``distill_config.json``, ``metrics.jsonl``,
``README.md`` (model card), ``loss_curve.png`` and ``run/`` (data cache, trimmed tokenizer,
checkpoints) which ``resume=True`` continues from.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from edge_time.atomic import staging_folder, write_json_atomic, write_text_atomic
from edge_time.bundle import position_offset
from edge_time.compute import resolve_precision
from edge_time.distill import checkpoint as ckpt
from edge_time.distill.card import write_card
from edge_time.distill.config import DistillConfig, DistillError
from edge_time.distill.data import SampleOrder, check_corpus, collate
from edge_time.distill.loss import hidden_state_loss, relation_loss
from edge_time.distill.prepare import (default_relation_heads, prepare_data, prepare_out_dir, removed_if_refused,
                                       validate_config)
from edge_time.distill.selection import Selection, init_from_teacher, measure_importance, select
from edge_time.distill.student import build_student, freeze_unused_top
from edge_time.distill.teachers import ProjectionCapture, load_teacher, qkv_modules
from edge_time.modeling.spec import DISTILL_CONFIG_NAME as CONFIG_NAME

# ---------------------------------------------------------------- 3. models

def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def make_optimizer(student: torch.nn.Module, config: DistillConfig):
    """AdamW (no weight decay on biases and LayerNorms, as BERT/MiniLM) and warmup + linear decay."""
    decay, no_decay = [], []
    for name, param in student.named_parameters():
        if param.requires_grad:
            (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=config.lr, betas=tuple(config.betas), eps=config.eps)
    warmup = config.warmup_steps if config.warmup_steps is not None else max(1, round(0.02 * config.max_steps))
    total = config.max_steps

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


# ---------------------------------------------------------------- 4. training

class MetricsLog:
    """metrics.jsonl (always) and TensorBoard (when installed), written by the main process."""

    def __init__(self, path: Path, enabled: bool, resume_step: int):
        self.path, self.enabled = path, enabled
        self.writer = None
        if not enabled:
            return
        if path.is_file():  # a fresh start drops all records; a resume those written after its checkpoint
            lines = [line for line in path.read_text().splitlines()
                     if line.strip() and resume_step > 0 and json.loads(line)["step"] <= resume_step]
            write_text_atomic(path, "".join(line + "\n" for line in lines))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(path.parent / "tensorboard"))
        except ImportError:
            self.writer = None

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Distiller:
    """Teacher + student with their Q/K/V hooks; ``loss(batch)`` is the relation loss of one batch,
    plus the weighted hidden-state loss when the student's units are a selection of the teacher's."""

    def __init__(self, teacher, student, teacher_layer: int, relation_heads: int, relations, block_elements: int,
                 autocast, selection: Selection | None = None, hidden_loss: float = 0.0):
        self.teacher, self.student = teacher, student
        self.selection, self.hidden_loss = selection, hidden_loss
        self.teacher_qkv = ProjectionCapture(qkv_modules(teacher, teacher_layer))
        last = student.config.num_hidden_layers
        attn = student.encoder.layer[last - 1].attention.self
        self.student_qkv = ProjectionCapture({"q": attn.query, "k": attn.key, "v": attn.value})
        self.relation_heads, self.relations, self.block_elements = relation_heads, relations, block_elements
        self.autocast = autocast

    def loss(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``model`` is the (possibly DDP-wrapped) student."""
        mask = batch["attention_mask"]
        states = bool(self.hidden_loss)
        with torch.no_grad(), self.autocast():
            self.teacher_qkv.reset()
            teacher_out = self.teacher(input_ids=batch["teacher_ids"], attention_mask=mask, output_hidden_states=states)
        with self.autocast():
            self.student_qkv.reset()
            student_out = model(input_ids=batch["student_ids"], attention_mask=mask, output_hidden_states=states)
        loss = relation_loss(self.student_qkv.take(), self.teacher_qkv.take(), mask, self.relation_heads,
                             self.relations, self.block_elements)
        if states:
            teacher_states = [teacher_out.hidden_states[i + 1] for i in self.selection.layers]
            loss = loss + self.hidden_loss * hidden_state_loss(list(student_out.hidden_states[1:]), teacher_states,
                                                               self.selection.hidden, mask)
        return loss


def validation_loss(distiller: Distiller, model, valid, pad_id: int, to_student, micro: int, accelerator) -> float:
    """Mean per-example relation loss over the validation chunks (sharded over processes)."""
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
    indices = np.arange(len(valid))[accelerator.process_index::accelerator.num_processes]
    with torch.no_grad():
        for start in range(0, len(indices), micro):
            part = indices[start:start + micro]
            batch = {k: v.to(accelerator.device) for k, v in collate(valid, part, pad_id, to_student).items()}
            total[0] += distiller.loss(model, batch).double() * len(part)
            total[1] += len(part)
    model.train()
    total = accelerator.reduce(total, "sum")
    return float(total[0] / total[1]) if total[1] > 0 else float("nan")


def distill(config: DistillConfig) -> Path:
    """Run (or resume) a distillation; returns the output folder, a Hugging Face model folder."""
    from accelerate import Accelerator
    from edge_time.progress import step_bar
    from transformers import AutoTokenizer

    from edge_time.modeling.spec import resolve_model_dir

    # ---- 1. configuration, folders
    teacher_dir = resolve_model_dir(config.teacher, config.trust_remote_code)
    config, size, init, init_why, relations = validate_config(config, teacher_dir)
    check_corpus(list(config.corpus) + list(config.valid or []), config.encoding,
                 log=lambda message: print(message, file=sys.stderr))
    precision = resolve_precision(config.precision)
    if not config.progress:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    cuda = torch.cuda.is_available()
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()  # a second run in this process may use another precision (process group kept)
    # Several processes without CUDA: tell accelerate to use CPU DDP (gloo); otherwise it sees one process.
    accelerator = Accelerator(mixed_precision="bf16" if precision == "bf16" else "no",
                              cpu=not cuda and int(os.environ.get("WORLD_SIZE", "1")) > 1)
    world, rank = accelerator.num_processes, accelerator.process_index
    if config.batch_size % (world * config.grad_accum):
        raise DistillError(f"--batch-size {config.batch_size} is not divisible by processes x --grad-accum "
                           f"({world} x {config.grad_accum}); choose a multiple")
    micro = config.batch_size // (world * config.grad_accum)
    out = prepare_out_dir(config) if accelerator.is_main_process else Path(config.out)
    with removed_if_refused(out, fresh=not config.resume and accelerator.is_main_process):
        accelerator.wait_for_everyone()
        run = out / "run"
        log = accelerator.print if config.progress else (lambda *a, **k: None)
        log(f"student: {init_why}; {config.max_steps} steps x {config.batch_size} chunks of <= {config.max_length} "
            f"tokens, lr {config.lr:g}, {precision}")

        # ---- 2. tokenizer, data, vocabulary
        try:
            tokenizer = AutoTokenizer.from_pretrained(teacher_dir, trust_remote_code=config.trust_remote_code)
        except Exception as exc:
            raise DistillError(f"{teacher_dir}: cannot load its tokenizer ({type(exc).__name__}); the teacher folder "
                               f"needs tokenizer.json") from exc
        if not getattr(tokenizer, "is_fast", False) or tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
            raise DistillError(f"{teacher_dir}: the tokenizer needs a tokenizer.json with CLS and SEP tokens")
        teacher_pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        teacher, teacher_layer = load_teacher(teacher_dir, config.teacher_layer,
                                              torch.bfloat16 if torch.cuda.is_available() else torch.float32,
                                              config.trust_remote_code)
        teacher_positions = (int(getattr(teacher.config, "max_position_embeddings", config.max_length))
                             - position_offset(teacher.config.model_type, teacher_pad))
        if config.max_length > teacher_positions and teacher.config.model_type != "deberta-v2":
            raise DistillError(f"--max-length {config.max_length} exceeds the teacher's {teacher_positions} positions; "
                               f"lower it")
        teacher_hidden = qkv_modules(teacher, teacher_layer)["q"].out_features
        relation_heads = config.relation_heads or default_relation_heads(
            teacher_hidden, teacher.config.num_attention_heads, size.hidden)
        for who, hidden in (("teacher", teacher_hidden), ("student", size.hidden)):
            if hidden % relation_heads:
                raise DistillError(f"{relation_heads} relation heads do not divide the {who} hidden size {hidden}; "
                                   f"pass --relation-heads that divides both {teacher_hidden} and {size.hidden}")
        chunks, valid, kept, to_student, data_info = prepare_data(config, tokenizer, run, accelerator, log)
        pad_id = teacher_pad
        student_pad = int(to_student[teacher_pad])

        # ---- 3. models
        selection = None
        if init == "teacher":
            selection = choose_selection(config, out, teacher, chunks, pad_id, size, log)
            student = build_student(size, len(kept), student_pad, config.max_length, config.seed, config.dropout,
                                    teacher.config.layer_norm_eps, teacher.config.hidden_act)
            init_from_teacher(student, teacher, selection, kept)
        else:
            student = build_student(size, len(kept), student_pad, config.max_length, config.seed, config.dropout)
        frozen = freeze_unused_top(student, top_block=not config.hidden_loss)
        params_full_vocab = count_params(student) + (data_info["teacher_vocab"] - len(kept)) * size.hidden
        optimizer, scheduler = make_optimizer(student, config)
        if accelerator.is_main_process:
            write_json_atomic(out / CONFIG_NAME, {
                "config": config.to_json(), "student_size": size.to_dict(), "teacher_dir": str(Path(teacher_dir).resolve()),
                "teacher_type": teacher.config.model_type, "teacher_layer": teacher_layer,
                "relation_heads": relation_heads, "relations": [str(r) for r in relations], "data": data_info,
                "init": init, "init_note": init_why, "selection": selection.to_json() if selection else None,
                "precision": precision,
                "student_params": count_params(student), "student_params_untrimmed": params_full_vocab,
                "embedding_params": len(kept) * size.hidden,
                "embedding_params_untrimmed": data_info["teacher_vocab"] * size.hidden,
                "frozen_top_parameters": frozen, "processes": world})

        # ---- resume
        checkpoints = run / "checkpoints"
        state = {"samples_seen": 0, "best_valid": None, "best_step": None, "processes": world}
        start_step = 0
        if config.resume and ckpt.read_pointer(checkpoints).get("last"):
            state = ckpt.load_checkpoint(checkpoints, student, optimizer, scheduler, rank)
            if state["processes"] != world:
                raise DistillError(f"--resume with {world} processes, but the checkpoint was written by "
                                   f"{state['processes']}; resume with the same number of processes")
            start_step = state.pop("step")
            log(f"resuming from step {start_step}")

        model, optimizer = accelerator.prepare(student, optimizer)
        teacher.to(accelerator.device)
        distiller = Distiller(teacher, accelerator.unwrap_model(model), teacher_layer, relation_heads, relations,
                              config.block_elements, accelerator.autocast, selection, config.hidden_loss)
        order = SampleOrder(len(chunks), config.seed)
        metrics = MetricsLog(out / "metrics.jsonl", accelerator.is_main_process, start_step)
        bar = step_bar(config.max_steps, "distilling", config.progress and accelerator.is_main_process,
                       initial=start_step, unit="step")
        window_tokens, window_start = torch.zeros((), device=accelerator.device), time.perf_counter()
        postfix: dict[str, str] = {}
        model.train()

        # ---- 4. train
        if start_step == 0 and len(valid):  # the untrained student's validation loss starts the curve
            metrics.write({"step": 0, "valid_loss": validation_loss(distiller, model, valid, pad_id, to_student, micro,
                                                                    accelerator)})
        for step in range(start_step, config.max_steps):
            step_loss = torch.zeros((), device=accelerator.device)
            for m in range(config.grad_accum):
                first = state["samples_seen"] + m * micro * world + rank * micro
                batch = collate(chunks, order.indices(first, micro), pad_id, to_student)
                batch = {k: v.to(accelerator.device) for k, v in batch.items()}
                sync = contextlib.nullcontext() if m == config.grad_accum - 1 else accelerator.no_sync(model)
                with sync:
                    loss = distiller.loss(model, batch)
                    accelerator.backward(loss / config.grad_accum)
                step_loss += loss.detach() / config.grad_accum
                window_tokens += batch["attention_mask"].sum()
            accelerator.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["samples_seen"] += config.batch_size
            done = step + 1

            if done % config.log_every == 0 or done == config.max_steps:
                loss_value = float(accelerator.reduce(step_loss, "mean"))
                tokens = float(accelerator.reduce(window_tokens, "sum"))  # real tokens, all processes
                elapsed = time.perf_counter() - window_start
                record = {"step": done, "loss": loss_value, "lr": scheduler.get_last_lr()[0],
                          "tokens_per_s": tokens / max(elapsed, 1e-9)}
                metrics.write(record)
                postfix.update(loss=f"{loss_value:.4f}", tok_s=f"{record['tokens_per_s']:.0f}")
                bar.set_postfix(postfix)
                window_tokens.zero_()
                window_start = time.perf_counter()
            if done % config.save_every == 0 or done == config.max_steps:
                pause = time.perf_counter()  # validation and saving do not count against throughput
                valid_loss = validation_loss(distiller, model, valid, pad_id, to_student, micro, accelerator) \
                    if len(valid) else None
                improved = valid_loss is not None and (state["best_valid"] is None or valid_loss < state["best_valid"])
                if improved:
                    state["best_valid"], state["best_step"] = valid_loss, done
                if valid_loss is not None:
                    metrics.write({"step": done, "valid_loss": valid_loss})
                    postfix["valid"] = f"{valid_loss:.4f}"
                    bar.set_postfix(postfix)
                best = ckpt.student_state(accelerator.unwrap_model(model)) if improved else None
                ckpt.save_checkpoint(checkpoints, done, accelerator.unwrap_model(model), optimizer, scheduler, state,
                                     accelerator, best)
                window_start += time.perf_counter() - pause
            bar.update(1)
        bar.close()
        metrics.close()

        # ---- 5. the Hugging Face folder (best validated weights)
        if accelerator.is_main_process:
            from safetensors.torch import load_file

            final = accelerator.unwrap_model(model)
            best_path = ckpt.best_weights_path(checkpoints)
            if best_path is not None:
                final.load_state_dict(load_file(str(best_path)))
            write_model_folder(out, final, run / "data" / "tokenizer", state)
            write_card(out, json.loads((out / CONFIG_NAME).read_text()), state)
        accelerator.wait_for_everyone()
        return out


def choose_selection(config: DistillConfig, out: Path, teacher, chunks, pad_id: int, size, log) -> Selection:
    """The teacher parts the student keeps: measured on the first ``init_sample`` chunks, or on --resume
    read back from the run's config (so the hidden-state loss pairs the same units)."""
    saved = out / CONFIG_NAME
    if config.resume and saved.is_file() and json.loads(saved.read_text()).get("selection"):
        return Selection.from_json(json.loads(saved.read_text())["selection"])
    sample = np.arange(min(len(chunks), config.init_sample))
    batches = []
    for start in range(0, len(sample), 16):
        batch = collate(chunks, sample[start:start + 16], pad_id)
        batches.append({"input_ids": batch["teacher_ids"], "attention_mask": batch["attention_mask"]})
    began = time.perf_counter()
    selection = select(measure_importance(teacher, batches), size, teacher.config)
    log(f"teacher init: layers {[i + 1 for i in selection.layers]}, {len(selection.hidden)} hidden units, "
        f"{len(selection.heads[0])} heads, {len(selection.ffn[0])} FFN neurons per layer "
        f"({len(sample)} chunks, {time.perf_counter() - began:.1f} s)")
    return selection


def write_model_folder(out: Path, student, tokenizer_dir: Path, state: dict) -> None:
    """save_pretrained + tokenizer files into ``out``, staged in a temp folder; config.json lands last."""
    tmp = staging_folder(out, prefix=".model.")
    try:
        for param in student.parameters():
            param.requires_grad_(True)
        student.save_pretrained(tmp)
        for item in tokenizer_dir.iterdir():
            shutil.copy2(item, tmp / item.name)
        names = sorted(p.name for p in tmp.iterdir())
        for name in [n for n in names if n != "config.json"] + ["config.json"]:
            (tmp / name).chmod(0o644)
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_json_atomic(out / "distill_result.json", {
        "best_step": state.get("best_step"), "best_valid_loss": state.get("best_valid"),
        "samples_seen": state.get("samples_seen")})
