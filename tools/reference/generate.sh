#!/usr/bin/env bash
# Regenerate tests/data from scratch. Three stages, and five that add to it:
#   generate.sh tokenizers         (any machine, standard-library Python only)
#       learns the CLIP BPE tokenizers of tiny-sd and tiny-sd2 from tools/reference/corpus.txt
#   generate.sh pipelines OUT_TAR  (a machine with torch, transformers, safetensors, numpy and
#       diffusers' source on PYTHONPATH; runs on the CPU in fp32)
#       builds the tiny pipelines, the reference outputs, the tokenizer parity file and the
#       single-file checkpoint, and packs them into OUT_TAR
#   generate.sh unpack TAR         puts that archive's content into tests/data
#   generate.sh end_to_end OUT_DIR (the same machine as the second stage; diffusers' src/ on
#       PYTHONPATH) runs the committed pipelines end to end over every scheduler, several step
#       counts and guidance settings, and writes <pipeline>_end_to_end.safetensors and
#       end_to_end.json into OUT_DIR, to be copied into tests/data/reference
#   generate.sh img2img OUT_DIR    (the same machine) runs the committed pipelines' image-to-image
#       over every scheduler and several strengths, and writes <pipeline>_img2img.safetensors and
#       img2img.json into OUT_DIR, to be copied into tests/data/reference
#   generate.sh lora OUT_DIR       (the same machine, with peft; diffusers' src/ on PYTHONPATH)
#       makes a random LoRA for tiny-sd in each format (kohya, diffusers/PEFT) and runs the
#       committed tiny-sd with them (load_lora_weights) over a few schedulers; writes
#       tiny-sd_lora.safetensors, lora.json and lora/ into OUT_DIR, to be copied into
#       tests/data/reference
#   generate.sh sdxl OUT_DIR       (the same machine; diffusers' src/ on PYTHONPATH) builds the
#       tiny SDXL pipeline from the committed tokenizers and its references, in tests/data's
#       layout under OUT_DIR (tiny-sdxl/, reference/tiny-sdxl_*, reference/sdxl.json); with
#       DIFFUSERS_SCRIPTS holding scripts/convert_diffusers_to_original_sdxl.py, also the
#       single-file checkpoint tiny-sdxl-single.safetensors, checked against the pipeline
#   generate.sh sdxl_single_file OUT_DIR  (the same machine; diffusers' src/ on PYTHONPATH,
#       DIFFUSERS_SCRIPTS required) converts the COMMITTED tests/data/tiny-sdxl (rebuilding
#       nothing) into OUT_DIR/tiny-sdxl-single.safetensors (fp32) and checks it
#       (tools/reference/check_sdxl_single_file.py -> OUT_DIR/reference/sdxl_single_file.json)
# DIFFUSERS_SCRIPTS must name the folder holding diffusers' scripts/ (for the single-file
# conversion script) in the second stage.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=tests/data
VOCAB_SIZE=1200

# sdxl_single_file MODEL_DIR OUT_DIR: diffusers' SDXL conversion script (fp32, safetensors), then
# the check of the file against MODEL_DIR's weights.
sdxl_single_file() {
    local convert="${DIFFUSERS_SCRIPTS:?set DIFFUSERS_SCRIPTS to the folder holding diffusers scripts/}/scripts/convert_diffusers_to_original_sdxl.py"
    [ -f "$convert" ] || { echo "no $convert" >&2; return 1; }
    python3 "$convert" --model_path "$1" --checkpoint_path "$2/tiny-sdxl-single.safetensors" \
        --use_safetensors
    python3 tools/reference/check_sdxl_single_file.py "$1" "$2/tiny-sdxl-single.safetensors" \
        "$2/reference/sdxl_single_file.json"
}

case "${1:-}" in
tokenizers)
    python3 tools/train/build_tokenizer.py --corpus tools/reference/corpus.txt \
        --vocab-size "$VOCAB_SIZE" --out "$DATA/tiny-sd/tokenizer"
    python3 tools/train/build_tokenizer.py --corpus tools/reference/corpus.txt \
        --vocab-size "$VOCAB_SIZE" --out "$DATA/tiny-sd2/tokenizer" --pad-token '!'
    ;;
pipelines)
    out_tar=${2:?usage: generate.sh pipelines OUT_TAR}
    scripts=${DIFFUSERS_SCRIPTS:?set DIFFUSERS_SCRIPTS to the folder holding diffusers scripts/}
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    export CUDA_VISIBLE_DEVICES=""
    python3 -c 'import diffusers, transformers, torch; print("diffusers", diffusers.__version__, "transformers", transformers.__version__, "torch", torch.__version__)'
    python3 tools/reference/build_pipelines.py --tokenizers "$DATA" --out "$work/data"
    # A failed stage is reported at the end; what the others made is still packed.
    status=0
    python3 tools/reference/build_references.py --data "$work/data" || status=1
    python3 "$scripts/scripts/convert_diffusers_to_original_stable_diffusion.py" \
        --model_path "$work/data/tiny-sd" --checkpoint_path "$work/data/tiny-sd-single.safetensors" \
        --use_safetensors || status=1
    python3 tools/reference/check_single_file.py "$work/data/tiny-sd" \
        "$work/data/tiny-sd-single.safetensors" || status=1
    mv "$work/data/build_report.json" "$work/data/reference/build_report.json"
    tar -C "$work/data" -cf "$out_tar" .
    du -a "$work/data" | sort -n | tail -40
    exit "$status"
    ;;
end_to_end)
    out_dir=${2:?usage: generate.sh end_to_end OUT_DIR}
    export CUDA_VISIBLE_DEVICES=""
    python3 -c 'import diffusers, transformers, torch; print("diffusers", diffusers.__version__, "transformers", transformers.__version__, "torch", torch.__version__)'
    python3 tools/reference/build_end_to_end.py --data "$DATA" --out "$out_dir"
    ls -l "$out_dir"
    ;;
img2img)
    out_dir=${2:?usage: generate.sh img2img OUT_DIR}
    export CUDA_VISIBLE_DEVICES=""
    python3 -c 'import diffusers, transformers, torch; print("diffusers", diffusers.__version__, "transformers", transformers.__version__, "torch", torch.__version__)'
    python3 tools/reference/build_img2img.py --data "$DATA" --out "$out_dir"
    ls -l "$out_dir"
    ;;
lora)
    out_dir=${2:?usage: generate.sh lora OUT_DIR}
    export CUDA_VISIBLE_DEVICES=""
    python3 -c 'import diffusers, transformers, peft, torch; print("diffusers", diffusers.__version__, "transformers", transformers.__version__, "peft", peft.__version__, "torch", torch.__version__)'
    python3 tools/reference/build_lora.py --data "$DATA" --out "$out_dir"
    ls -lR "$out_dir"
    ;;
sdxl)
    out_dir=${2:?usage: generate.sh sdxl OUT_DIR}
    export CUDA_VISIBLE_DEVICES=""
    python3 -c 'import diffusers, transformers, torch; print("diffusers", diffusers.__version__, "transformers", transformers.__version__, "torch", torch.__version__)'
    python3 tools/reference/build_sdxl.py --tokenizers "$DATA" --out "$out_dir"
    convert="${DIFFUSERS_SCRIPTS:-}/scripts/convert_diffusers_to_original_sdxl.py"
    if [ -n "${DIFFUSERS_SCRIPTS:-}" ] && [ -f "$convert" ]; then
        sdxl_single_file "$out_dir/tiny-sdxl" "$out_dir"
    else
        echo "note: no $convert (set DIFFUSERS_SCRIPTS): tiny-sdxl-single.safetensors not made" >&2
    fi
    du -a "$out_dir" | sort -n | tail -30
    ;;
sdxl_single_file)
    out_dir=${2:?usage: generate.sh sdxl_single_file OUT_DIR}
    export CUDA_VISIBLE_DEVICES=""
    python3 -c 'import diffusers, transformers, torch; print("diffusers", diffusers.__version__, "transformers", transformers.__version__, "torch", torch.__version__)'
    mkdir -p "$out_dir/reference"
    sdxl_single_file "$DATA/tiny-sdxl" "$out_dir"
    ls -l "$out_dir" "$out_dir/reference"
    ;;
unpack)
    tar_file=${2:?usage: generate.sh unpack TAR}
    rm -rf "$DATA/tiny-sd" "$DATA/tiny-sd2" "$DATA/reference"
    tar -C "$DATA" -xf "$tar_file"
    ;;
*)
    echo "usage: generate.sh tokenizers | pipelines OUT_TAR | unpack TAR | end_to_end OUT_DIR | img2img OUT_DIR | lora OUT_DIR | sdxl OUT_DIR | sdxl_single_file OUT_DIR" >&2
    exit 2
    ;;
esac
