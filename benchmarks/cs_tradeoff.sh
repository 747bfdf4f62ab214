#!/usr/bin/env bash
# The accuracy / speed / size trade-off on Czech PUD (issue "End to end"), top to bottom:
# the multilingual teacher, Czech students of each size distilled from it, every model fine-tuned
# for UD with the same settings, int8-dynamic ONNX bundles of each, and spaCy's cs_core_news_sm,
# all measured by one `edge-time bench` run on the dev file.
#
#   bash benchmarks/cs_tradeoff.sh SHARED_DIR WORK_DIR
#
# SHARED_DIR holds tools/make_multilingual_teacher.py, data/corpora/cs.txt and data/ud/; WORK_DIR
# receives every model, bundle and the bench report (WORK_DIR/bench/bench.md). Steps whose output
# already exists are skipped, so a re-run after a crash, or to re-measure, redoes only what is
# missing. Knobs (environment): SIZES ("xs s m"), DISTILL_STEPS (200), FINETUNE_STEPS (200),
# THREADS (1), REPEATS (3), BATCH_SIZES ("1 8 32"), EDGE_TIME (.venv/bin/edge-time of this repo).
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
distill_steps=${DISTILL_STEPS:-200}
finetune_steps=${FINETUNE_STEPS:-200}
train=$shared/data/ud/cs_pud-train.conllu
dev=$shared/data/ud/cs_pud-dev.conllu
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
if [ ! -f teacher/config.json ]; then
  log "teacher: multilingual-e5-small (XLM-R vocabulary) -> $work/teacher"
  timed teacher "$python" "$shared/tools/make_multilingual_teacher.py" teacher
fi

for size in $sizes; do
  if [ ! -f "student_$size/config.json" ]; then
    log "distill: $size student, $distill_steps steps x 32 chunks of 128 tokens on cs.txt"
    timed "distill_$size" "$edge_time" distill --teacher teacher --corpus "$shared/data/corpora/cs.txt" \
      --size "$size" --max-length 128 --batch-size 32 --max-steps "$distill_steps" \
      --save-every $((distill_steps / 3)) --out "student_$size" --overwrite --quiet
  fi
done

# One fine-tuning recipe for every encoder, so the rows compare. The teacher's 96M-row
# embedding matrix is frozen (it is most of its parameters and would dominate each step);
# the students' trimmed embeddings train.
finetune() {  # finetune ENCODER OUT [extra options]
  local encoder=$1 out=$2
  shift 2
  if [ ! -f "$out/finetune_result.json" ]; then  # written when a run finishes, not at a mid-run best
    log "finetune: UD on $encoder -> $out ($finetune_steps steps)"
    timed "finetune_$out" "$edge_time" finetune --task ud --model "$encoder" --train "$train" --dev "$dev" \
      --out "$out" --max-steps "$finetune_steps" --eval-every $((finetune_steps / 4)) --batch-size 16 \
      --lr 1e-4 --head-lr 3e-3 --max-length 128 --overwrite --quiet "$@"
  fi
}
finetune teacher ud_teacher --freeze-embeddings
for size in $sizes; do finetune "student_$size" "ud_$size"; done

models=()
for model in ud_teacher $(for size in $sizes; do echo "ud_$size"; done); do
  if [ ! -f "${model}_onnx_int8/manifest.json" ]; then
    log "export: $model -> ONNX int8-dynamic"
    timed "export_$model" "$edge_time" export --model "$model" --target onnx --quantize int8-dynamic \
      --max-length 128 --out "${model}_onnx_int8" --overwrite
  fi
  models+=("$model" "${model}_onnx_int8")
done

log "bench: ${models[*]} and spaCy cs_core_news_sm on $dev"
# shellcheck disable=SC2086  # BATCH_SIZES is a list of numbers
timed bench "$edge_time" bench --models "${models[@]}" --task-data "$dev" --spacy cs_core_news_sm \
  --batch-sizes ${BATCH_SIZES:-1 8 32} --repeats "${REPEATS:-3}" --threads "${THREADS:-1}" --out bench
log "done: $work/bench/bench.md; step timings in $work/timings.tsv"
