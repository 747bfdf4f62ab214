#!/usr/bin/env bash
# Czech students that keep their teacher's quality on a CPU budget, top to bottom:
#   1. the multilingual teacher (e5-small, XLM-R vocabulary) fine-tuned for UD on cs_ud-train.conllu;
#   2. students of each size, teacher-initialised (cut out of DISTILL_FROM) and randomly initialised,
#      distilled for the same number of steps on corpora/cs.txt and the training file's sentences, so
#      the trimmed vocabulary covers the task's words (both inits' loss curves: init_curves.png);
#   3. each student task-distilled from the UD teacher on cs.txt (xs: longer, plus the training
#      sentences' text), then fine-tuned on the gold data with one recipe (stages 2 and 3 run student by student, teacher-initialised ones first);
#   4. int8-dynamic ONNX bundles of every model;
#   5. one `edge-time bench` run on PUD dev with spaCy cs_core_news_sm beside.
#
#   bash benchmarks/cs_tradeoff.sh SHARED_DIR WORK_DIR
#
# SHARED_DIR holds tools/make_multilingual_teacher.py, data/corpora/cs.txt and data/ud/; WORK_DIR
# receives every model, bundle, the bench report (WORK_DIR/bench/bench.md) and timings.tsv (wall
# seconds per stage). Steps whose output exists are skipped, so a re-run redoes only what is missing.
# Knobs (environment): SIZES ("xs s m"; an entry NAME:HIDDEN/LAYERS/HEADS is a custom shape with FFN
# 4 x HIDDEN, e.g. "xs h192:192/4/6", trained with the xs recipe: shapes below xs),
# INITS ("teacher random"), DISTILL_FROM (ud_teacher, the
# default: students are cut from the fine-tuned UD teacher's encoder and relation-distilled against
# it, so `finetune --head-init auto` also starts their head as the teacher's, cut the same way;
# teacher: the pretrained encoder, runs 1-3 of docs/benchmarks.md), TEACHER_STEPS (1500),
# DISTILL_STEPS (200), KD_STEPS (1000), KD_STEPS_XS (5000: xs task-distils longer, on cs.txt plus the
# text of the training sentences; its steps are cheap; 2500 with FINETUNE_STEPS_XS=500, the recipe until
# 2026-12-07, gave xs 2.3 LAS less), FINETUNE_STEPS_XS (1000: gold steps of xs-recipe students),
# HEAD_MLP (the students' head width, finetune --head-mlp; unset: 256, the teacher's), EMA (the students'
# finetune --ema decay; unset: none), DISTILL_TRAIN_TEXT (1; 0: distil on cs.txt alone,
# as runs 1-4 did, a vocabulary that splits PUD into 15% more pieces than the teacher's), FINETUNE_STEPS (500), THREADS (1, for the bench),
# REPEATS (3), BATCH_SIZES ("1 8 32"), EDGE_TIME (.venv/bin/edge-time of this repo), TRAIN_ONLY
# (1: stop after the students' training, e.g. to run two SIZES/INITS side by side, then re-run).
# Torch uses every core unless OMP_NUM_THREADS says otherwise. Training commands print a progress line
# with an ETA every 30 s when their output goes to a file. A size the teacher cannot be cut to
# (m is 768 wide, the e5-small teacher 384) gets only the random init, and the log says why.
# Needs the spacy extra: pip install -e '.[spacy]'.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: bash benchmarks/cs_tradeoff.sh SHARED_DIR WORK_DIR" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$1" && pwd)
mkdir -p "$2"
work=$(cd "$2" && pwd)
edge_time=${EDGE_TIME:-$repo/.venv/bin/edge-time}
python=$(dirname "$edge_time")/python
sizes=${SIZES:-xs s m}
inits=${INITS:-teacher random}
teacher_steps=${TEACHER_STEPS:-1500}
distill_steps=${DISTILL_STEPS:-200}
kd_steps=${KD_STEPS:-1000}
kd_steps_xs=${KD_STEPS_XS:-5000}
finetune_steps=${FINETUNE_STEPS:-500}
finetune_steps_xs=${FINETUNE_STEPS_XS:-1000}
distill_from=${DISTILL_FROM:-ud_teacher}
student_options=()  # finetune options of the students only
if [ -n "${HEAD_MLP:-}" ]; then
  student_options+=(--head-mlp "$HEAD_MLP")
fi
if [ -n "${EMA:-}" ]; then
  student_options+=(--ema "$EMA")
fi
train=$shared/data/ud/cs_ud-train.conllu
dev=$shared/data/ud/cs_pud-dev.conllu
corpus=$shared/data/corpora/cs.txt
distill_corpora=(--corpus "$corpus")
if [ "${DISTILL_TRAIN_TEXT:-1}" = 1 ]; then  # a CoNLL-U corpus is its sentences' text
  distill_corpora+=(--corpus "$train")
fi
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
timed() {  # timed NAME CMD...: run CMD, append its wall seconds to WORK_DIR/timings.tsv
  local name=$1 start end
  shift
  start=$(date +%s)
  "$@"
  end=$(date +%s)
  printf '%s\t%s\n' "$name" "$((end - start))" >>"$work/timings.tsv"
}

cd "$work"
# ---- 1. teacher
if [ ! -f teacher/config.json ]; then
  log "teacher: multilingual-e5-small (XLM-R vocabulary) -> $work/teacher"
  timed teacher "$python" "$shared/tools/make_multilingual_teacher.py" teacher
fi
if [ ! -f ud_teacher/finetune_result.json ]; then  # written when a run finishes, not at a mid-run best
  log "finetune: UD teacher on $train ($teacher_steps steps x 32 sentences)"
  timed finetune_teacher "$edge_time" finetune --task ud --model teacher --train "$train" --dev "$dev" \
    --out ud_teacher --max-steps "$teacher_steps" --eval-every 100 --batch-size 32 --lr 1e-4 --head-lr 3e-3 \
    --max-length 128 --patience 4 --overwrite
fi

# ---- 2-3. each student end to end, teacher-initialised ones first: distillation (the same steps
# for both inits; CPU preset: 32 chunks of <= 128 tokens per step), then task distillation from the
# UD teacher on cs.txt and gold fine-tuning, one recipe for every student
students=()  # SIZE_INIT of every student this run makes
for init in $inits; do
  for entry in $sizes; do
    if [[ $entry =~ ^([a-z0-9]+):([0-9]+)/([0-9]+)/([0-9]+)$ ]]; then  # a custom shape, trained as xs is
      size=${BASH_REMATCH[1]} recipe=xs
      shape=(--hidden "${BASH_REMATCH[2]}" --layers "${BASH_REMATCH[3]}" --heads "${BASH_REMATCH[4]}")
    elif [[ $entry =~ ^[a-z]+$ ]]; then
      size=$entry recipe=$entry shape=(--size "$entry")
    else
      echo "SIZES entry '$entry': write a preset (xs, s, m) or NAME:HIDDEN/LAYERS/HEADS, e.g. h192:192/4/6" >&2
      exit 2
    fi
    if [ "$init" = teacher ]; then
      problem=$("$python" -c 'import sys
from transformers import AutoConfig
from edge_time.distill.selection import teacher_init_problem
from edge_time.distill.student import resolve_size
config = AutoConfig.from_pretrained(sys.argv[1])
shape = dict(zip(sys.argv[2::2], sys.argv[3::2]))
size = resolve_size(shape.get("--size"), *(int(shape[k]) if k in shape else None for k in ("--hidden", "--layers", "--heads")))
print(teacher_init_problem(config, size, config.num_hidden_layers) or "")' "$distill_from" "${shape[@]}")
      if [ -n "$problem" ]; then
        log "skip: no teacher-initialised $size student ($problem)"
        continue
      fi
    fi
    student="${size}_$init"
    students+=("$student")
    if [ ! -f "student_$student/config.json" ]; then
      log "distill: $size student from $distill_from, --init $init, $distill_steps steps on ${distill_corpora[*]}"
      timed "distill_$student" "$edge_time" distill --teacher "$distill_from" "${distill_corpora[@]}" "${shape[@]}" \
        --init "$init" --max-steps "$distill_steps" --save-every $((distill_steps / 4)) \
        --out "student_$student" --overwrite
    fi
    if [ ! -f "ud_$student/finetune_result.json" ]; then
      unlabeled=(--unlabeled "$corpus")
      steps=$kd_steps gold_steps=$finetune_steps
      if [ "$recipe" = xs ]; then  # the text of the gold sentences too: in-domain raw text for the teacher to label
        grep '^# text = ' "$train" | sed 's/^# text = //' >train_text.txt
        unlabeled+=(--unlabeled train_text.txt)
        steps=$kd_steps_xs gold_steps=$finetune_steps_xs
      fi
      log "finetune: ud_$student = task distillation ($steps steps on ${unlabeled[*]}) + $gold_steps gold steps"
      timed "finetune_ud_$student" "$edge_time" finetune --task ud --model "student_$student" \
        --teacher-model ud_teacher "${unlabeled[@]}" --distill-steps "$steps" \
        --train "$train" --dev "$dev" --out "ud_$student" --max-steps "$gold_steps" --eval-every 50 \
        --batch-size 32 --lr 2e-4 --head-lr 3e-3 --max-length 128 --patience 4 "${student_options[@]}" --overwrite
    fi
  done
done
shopt -s nullglob
distilled=(student_*_teacher student_*_random)
shopt -u nullglob
if [ ${#distilled[@]} -gt 0 ]; then
  "$python" "$repo/benchmarks/plot_init_curves.py" --out init_curves.png "${distilled[@]}"
fi

if [ "${TRAIN_ONLY:-0}" = 1 ]; then
  log "TRAIN_ONLY: trained ${students[*]}; re-run without TRAIN_ONLY for the bundles and the bench"
  exit 0
fi

# ---- 4. int8 bundles, checked on in-domain parity texts (64 training sentences across its parts):
# int8-dynamic quantizes the FFN outputs only where that graph keeps parity on them
if [ ! -f parity_texts.txt ]; then
  "$python" -c 'import sys
from edge_time.tasks.formats import read_conllu
sentences = read_conllu(sys.argv[1])
print("\n".join(" ".join(s.forms) for s in sentences[:: max(1, len(sentences) // 64)][:64]))' "$train" >parity_texts.txt
fi
models=()
for model in ud_teacher "${students[@]/#/ud_}"; do
  if [ ! -f "${model}_onnx_int8/manifest.json" ]; then
    log "export: $model -> ONNX int8-dynamic"
    timed "export_$model" "$edge_time" export --model "$model" --target onnx --quantize int8-dynamic \
      --max-length 128 --parity-texts parity_texts.txt --out "${model}_onnx_int8" --overwrite
  fi
  models+=("$model" "${model}_onnx_int8")
done

# ---- 5. one bench run
log "bench: ${models[*]} and spaCy cs_core_news_sm on $dev"
# shellcheck disable=SC2086  # BATCH_SIZES is a list of numbers
timed bench "$edge_time" bench --models "${models[@]}" --task-data "$dev" --spacy cs_core_news_sm \
  --batch-sizes ${BATCH_SIZES:-1 8 32} --repeats "${REPEATS:-3}" --threads "${THREADS:-1}" --out bench
log "done: $work/bench/bench.md, $work/init_curves.png; step timings in $work/timings.tsv"
