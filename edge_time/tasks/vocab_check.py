"""Does a student's trimmed vocabulary split the task's text as its teacher's does? (``edge-time finetune``)

A student keeps only the teacher vocabulary entries its distillation corpus uses
(:mod:`edge_time.distill.vocab`). Words of a task from another domain then fall back to shorter
pieces: more tokens per sentence, so a slower encoder that sees inputs its teacher never produced
(a vocabulary trimmed on Czech LibreOffice help text splits Czech PUD news into 15% more pieces than
the teacher's; docs/distillation.md, "Vocabulary and the task's words").
Fine-tuning measures it on the training text, records it and warns with the fix.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

from edge_time.modeling.spec import distill_record

logger = logging.getLogger(__name__)  # the CLI prints edge_time warnings as "warning: ..." lines

# more extra pieces than this share on the training text: warn
EXTRA_PIECES_WARN = 0.05


@dataclass
class SegmentationCost:
    """Subword pieces of the same words under a student's tokenizer and under its teacher's."""

    words: int
    pieces: int
    teacher_pieces: int

    @property
    def extra_pieces(self) -> float:
        """The share of pieces trimming adds (0.15: 15% more tokens, so ~15% more encoder work)."""
        return self.pieces / max(1, self.teacher_pieces) - 1.0

    def as_dict(self) -> dict:
        return {"words": self.words, "pieces_per_word": round(self.pieces / max(1, self.words), 4),
                "teacher_pieces_per_word": round(self.teacher_pieces / max(1, self.words), 4),
                "extra_pieces": round(self.extra_pieces, 4)}


def segmentation_cost(tokenizer, teacher_tokenizer, sentences: list[list[str]]) -> SegmentationCost:
    """Pieces of pre-tokenized ``sentences`` under two ``tokenizers.Tokenizer`` objects (specials not counted)."""
    pieces = []
    for tok in (tokenizer, teacher_tokenizer):
        tok = copy.deepcopy(tok)  # the caller's truncation and padding settings stay as they were
        tok.no_truncation()
        tok.no_padding()
        encodings = tok.encode_batch([list(words) for words in sentences], is_pretokenized=True,
                                     add_special_tokens=False)
        pieces.append(sum(len(e.ids) for e in encodings))
    return SegmentationCost(words=sum(len(words) for words in sentences), pieces=pieces[0], teacher_pieces=pieces[1])


def teacher_tokenizer_file(model_dir: Path, teacher_model: str | Path | None) -> Path | None:
    """The tokenizer to compare with: ``--teacher-model``'s, else that of the teacher the student was distilled
    from (its distill_config.json), when the folder is still there; None for a model that is no student."""
    candidates = [Path(teacher_model)] if teacher_model else []
    teacher_dir = (distill_record(model_dir) or {}).get("teacher_dir")
    if teacher_dir:
        candidates.append(Path(teacher_dir))
    return next((c / "tokenizer.json" for c in candidates if (c / "tokenizer.json").is_file()), None)


def check_segmentation(tokenizer, model_dir: Path, teacher_model: str | Path | None,
                       sentences: list[list[str]]) -> dict | None:
    """Pieces per word of ``sentences`` under the student's ``tokenizer`` (a ``transformers`` fast tokenizer)
    and its teacher's; warns when the student's are over :data:`EXTRA_PIECES_WARN` more. None: nothing to
    compare with (no teacher tokenizer found, or the same vocabulary)."""
    from tokenizers import Tokenizer

    reference = teacher_tokenizer_file(model_dir, teacher_model)
    if reference is None or not sentences:
        return None
    teacher = Tokenizer.from_file(str(reference))
    if teacher.get_vocab_size() == tokenizer.backend_tokenizer.get_vocab_size():
        return None  # an untrimmed student (or the teacher itself): the same segmentation
    cost = segmentation_cost(tokenizer.backend_tokenizer, teacher, sentences)
    if cost.extra_pieces > EXTRA_PIECES_WARN:
        logger.warning(f"the student's vocabulary splits the training text into {cost.extra_pieces:.0%} more "
                       f"pieces than its teacher's ({cost.pieces / cost.words:.2f} vs "
                       f"{cost.teacher_pieces / cost.words:.2f} per word): the student runs slower and sees other "
                       f"inputs than its teacher; distil it again with the training file as another --corpus")
    return {**cost.as_dict(), "teacher_tokenizer": str(reference)}
