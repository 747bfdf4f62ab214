"""Everything before the models are built: 1. the configuration checked against the teacher's
config.json (before anything is written) and the run folder, 2. the corpus tokenized into chunks
and the vocabulary trimmed, cached in the run folder. :mod:`edge_time.distill.recipe` calls these.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from pathlib import Path

import numpy as np

from edge_time.atomic import write_json_atomic
from edge_time.distill import checkpoint as ckpt
from edge_time.distill.config import RESUMABLE_CHANGES, DistillConfig, DistillError
from edge_time.distill.data import corpus_fingerprint, load_chunks, save_chunks, split_validation, tokenize_corpus
from edge_time.distill.defaults import with_defaults
from edge_time.distill.loss import Relation
from edge_time.distill.selection import resolve_init
from edge_time.distill.student import resolve_size
from edge_time.distill.vocab import identity_vocab, model_kind, tokenizer_from_json, trim_tokenizer
from edge_time.errors import EdgeTimeError
from edge_time.modeling.spec import DISTILL_CONFIG_NAME as CONFIG_NAME


# ---------------------------------------------------------------- 1. checks and folders

def validate_config(config: DistillConfig, teacher_dir: Path):
    """Everything that can be checked from the teacher's config.json alone, before anything is written.

    Returns (config with the preset's budget filled in, student size, 'teacher'|'random', why, relations).
    """
    config, size, init, why = resolve_student(config, teacher_dir)
    try:
        relations = tuple(Relation.parse(r) for r in config.relations)
    except ValueError as exc:
        raise DistillError(str(exc)) from exc
    if not config.corpus:
        raise DistillError("no corpus given; pass --corpus FILE (text, JSONL or Parquet)")
    for name in ("batch_size", "grad_accum", "max_steps", "save_every", "log_every", "max_length"):
        if getattr(config, name) < 1:
            raise DistillError(f"{name.replace('_', '-')} must be at least 1, got {getattr(config, name)}")
    if config.max_length > 4096:
        raise DistillError(f"--max-length {config.max_length} is larger than 4096; students use absolute positions")
    if config.hidden_loss < 0:
        raise DistillError(f"--hidden-loss must be >= 0, got {config.hidden_loss}")
    return config, size, init, why, relations


def resolve_student(config: DistillConfig, teacher_dir: Path):
    """(config with the preset's budget filled in, student size, 'teacher'|'random', why) from the teacher config."""
    from transformers import AutoConfig

    size = resolve_size(config.size, config.hidden, config.layers, config.heads, config.ffn)
    try:
        teacher_config = AutoConfig.from_pretrained(teacher_dir, trust_remote_code=config.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise DistillError(f"{teacher_dir}: cannot read the teacher's config.json ({exc})") from exc
    total = int(getattr(teacher_config, "num_hidden_layers", 0))
    layers = config.teacher_layer or min(12, total)
    init, size, why = resolve_init(config.init, teacher_config, size, layers, heads_given=config.heads is not None)
    if init == "random" and config.hidden_loss:
        raise DistillError("--hidden-loss needs a teacher-initialised student (its units match the teacher's); "
                           "drop --hidden-loss or use --init teacher")
    return with_defaults(config, init), size, init, why


def prepare_out_dir(config: DistillConfig) -> Path:
    out = Path(config.out)
    marker = out / CONFIG_NAME
    if config.resume:
        if not marker.is_file():
            raise DistillError(f"--resume: {out} is not a distillation run folder (no {CONFIG_NAME}); "
                               f"drop --resume to start a new run")
        saved = json.loads(marker.read_text())["config"]
        changed = sorted(k for k, v in config.to_json().items()
                         if k not in RESUMABLE_CHANGES and json.loads(json.dumps(v)) != saved.get(k))
        if changed:
            raise DistillError(f"--resume with different settings ({', '.join(changed)}); use the run's original "
                               f"settings or start a new --out")
        return out
    if out.exists() and any(out.iterdir()):
        if not config.overwrite:
            raise DistillError(f"output {out} already exists; pass --resume to continue it, --overwrite to "
                               f"start over, or choose another --out")
        if not marker.is_file():
            raise DistillError(f"--overwrite refuses to delete {out}: it is not a distillation run folder")
        shutil.rmtree(out)
    # The marker first: a run killed before its first checkpoint (e.g. while tokenising) leaves a folder
    # that --resume continues and --overwrite may replace. The full config replaces it once data is ready.
    write_json_atomic(marker, {"config": config.to_json(), "status": "started"})
    return out


@contextlib.contextmanager
def removed_if_refused(out: Path, fresh: bool):
    """A new run that is refused before its first checkpoint (an empty corpus, a bad --teacher-layer)
    leaves no folder behind; a resumed run, or one with checkpoints, is always kept."""
    try:
        yield
    except EdgeTimeError:
        if fresh and not ckpt.read_pointer(out / "run" / "checkpoints").get("last"):
            shutil.rmtree(out, ignore_errors=True)
        raise


def default_relation_heads(teacher_hidden: int, teacher_heads: int, student_hidden: int) -> int:
    """MiniLMv2's choice (64 for large teachers, 48 for base, else the teacher's heads), lowered to
    the largest count that divides both hidden sizes (e.g. 8 for a 384 teacher and an xs student)."""
    preferred = 64 if teacher_hidden >= 1024 else 48 if teacher_hidden >= 768 else teacher_heads
    common = math.gcd(teacher_hidden, student_hidden)
    return max(h for h in range(1, preferred + 1) if common % h == 0)


# ---------------------------------------------------------------- 2. data and vocabulary

def prepare_data(config: DistillConfig, tokenizer, run: Path, accelerator, log):
    """Chunks (teacher ids), validation chunks and the trimmed vocabulary, cached in ``run``."""
    tok_json = tokenizer.backend_tokenizer.to_str()
    sources = list(config.corpus) + list(config.valid or [])
    knobs = [config.pack_documents, config.trim_vocab, config.vocab_coverage, config.max_vocab, config.min_count, config.seed,
             config.valid_fraction, config.max_valid_chunks, config.encoding]
    fingerprint = corpus_fingerprint(sources, tok_json, config.max_length, config.text_field,
                                     config.max_documents) + "|" + "|".join(map(str, knobs))
    data_dir = run / "data"
    info_path = data_dir / "data.json"
    with accelerator.main_process_first():
        cached = info_path.is_file() and json.loads(info_path.read_text()).get("fingerprint") == fingerprint
        if not cached and accelerator.is_main_process:
            info = _tokenize_and_trim(config, tokenizer, tok_json, data_dir, log)
            write_json_atomic(info_path, {**info, "fingerprint": fingerprint})
    info = json.loads(info_path.read_text())
    chunks, valid = load_chunks(data_dir / "train"), load_chunks(data_dir / "valid")
    kept = np.load(data_dir / "kept.npy")
    to_student = np.load(data_dir / "teacher_to_student.npy")
    return chunks, valid, kept, to_student, info


def _tokenize_and_trim(config: DistillConfig, tokenizer, tok_json: str, data_dir: Path, log) -> dict:
    from edge_time.progress import step_bar

    backend = tokenizer.backend_tokenizer
    bar = step_bar(None, "tokenizing corpus", config.progress, unit=" docs")
    corpus = tokenize_corpus(list(config.corpus), backend, tokenizer.cls_token_id, tokenizer.sep_token_id,
                             config.max_length, config.text_field, config.max_documents, config.pack_documents,
                             progress=bar.update, encoding=config.encoding)
    counts, chars = corpus.counts, corpus.chars
    if config.valid:
        valid_corpus = tokenize_corpus(list(config.valid), backend, tokenizer.cls_token_id, tokenizer.sep_token_id,
                                       config.max_length, config.text_field, config.max_documents,
                                       config.pack_documents, progress=bar.update, encoding=config.encoding)
        train, valid = corpus.chunks, valid_corpus.chunks.subset(np.arange(min(len(valid_corpus.chunks),
                                                                               config.max_valid_chunks)))
    else:
        train_idx, valid_idx = split_validation(len(corpus.chunks), config.valid_fraction,
                                                config.max_valid_chunks, config.seed)
        train, valid = corpus.chunks.subset(train_idx), corpus.chunks.subset(valid_idx)
    bar.close()
    teacher_json = json.loads(tok_json)
    teacher_vocab = backend.get_vocab_size(with_added_tokens=True)
    if config.trim_vocab:
        trimmed = trim_tokenizer(teacher_json, counts, chars, config.vocab_coverage, config.max_vocab,
                                 config.min_count)
    else:
        trimmed = identity_vocab(teacher_json, teacher_vocab)
    save_chunks(train, data_dir / "train")
    save_chunks(valid, data_dir / "valid")
    np.save(data_dir / "kept.npy", trimmed.kept)
    np.save(data_dir / "teacher_to_student.npy", trimmed.teacher_to_student)
    save_student_tokenizer(trimmed.tokenizer_json, tokenizer, config.max_length, data_dir / "tokenizer")
    info = {"documents": corpus.documents, "train_chunks": len(train), "valid_chunks": len(valid),
            "train_tokens": int(train.lengths().sum()), "teacher_vocab": teacher_vocab,
            "student_vocab": int(trimmed.size), "tokenizer_model": model_kind(teacher_json),
            "trimmed": config.trim_vocab, "token_coverage": trimmed.token_coverage}
    log(f"corpus: {corpus.documents} documents -> {len(train)} training chunks ({info['train_tokens']} tokens), "
        f"{len(valid)} validation chunks; vocabulary {teacher_vocab} -> {trimmed.size} entries")
    return info


def save_student_tokenizer(tokenizer_json: dict, teacher_tokenizer, max_length: int, folder: Path) -> None:
    """tokenizer.json + tokenizer_config.json that AutoTokenizer loads, with the teacher's special tokens."""
    from transformers import PreTrainedTokenizerFast

    specials = {k: v for k, v in teacher_tokenizer.special_tokens_map.items() if isinstance(v, str)}
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer_from_json(tokenizer_json),
                                   model_max_length=max_length, **specials)
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    config_path = folder / "tokenizer_config.json"  # the class name older transformers releases know too
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()),
                                       "tokenizer_class": "PreTrainedTokenizerFast"}, indent=2))
