#!/usr/bin/env python3
"""Check an SGM single-file SDXL checkpoint made by diffusers' own
scripts/convert_diffusers_to_original_sdxl.py against the diffusers-layout pipeline it came from.

Hard checks (any failure exits non-zero, naming it):
  - every tensor is float32 and lies under one of the four SGM prefixes:
    conditioner.embedders.0.transformer. (text_encoder), conditioner.embedders.1.model.
    (text_encoder_2), model.diffusion_model. (unet), first_stage_model. (vae);
  - text_encoder: every committed tensor under the prefix + its own name, unchanged, nothing else;
  - unet and vae: the tensors under their prefix and the committed ones pair up one to one with
    identical values (flattened: the VAE attention's matrices are stored as 1x1 kernels);
  - text_encoder_2 as diffusers reads it: StableDiffusionXLPipeline.from_single_file(CHECKPOINT,
    config=PIPELINE_DIR) with the other three models passed in, so that only text_encoder_2 comes
    from the file (OpenCLIP naming, fused q/k/v split, text_projection transposed back): every
    parameter has the committed name and values.

Recorded, not asserted: the same diffusers loader for text_encoder, unet and vae, one at a time.
It cannot read them for a pipeline shaped unlike SDXL base: the conversion script hard-codes
SDXL's two layers per down level and three per up level (input_blocks 3i+j+1, output_blocks
3i+j) and the VAE's four levels (decoder.up.{3-i}), while the loader numbers blocks from the
config's layers_per_block and number of up blocks; and transformers >= 5.6 saves CLIPTextModel
without "text_model.", so the loader does not find
conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight, its sign of
SDXL's first encoder. The report keeps what the loader said for each.

Writes REPORT (JSON): tensor counts per prefix, bytes, the checks, the loader's outcomes, versions.

Usage: check_sdxl_single_file.py PIPELINE_DIR CHECKPOINT.safetensors REPORT.json
"""

import json
import os
import platform
import sys
import traceback

import torch
from safetensors.torch import load_file

PREFIXES = {
    "text_encoder": "conditioner.embedders.0.transformer.",
    "text_encoder_2": "conditioner.embedders.1.model.",
    "unet": "model.diffusion_model.",
    "vae": "first_stage_model.",
}
FILES = {
    "text_encoder": "text_encoder/model.safetensors",
    "text_encoder_2": "text_encoder_2/model.safetensors",
    "unet": "unet/diffusion_pytorch_model.safetensors",
    "vae": "vae/diffusion_pytorch_model.safetensors",
}


def fingerprint(tensor):
    t = tensor.flatten().contiguous().double()  # one summation order whatever the shape
    return (t.numel(), float(t.sum()), float((t * t).sum()))


def pair_by_values(committed, found):
    """Pairs each committed tensor with a tensor of `found` holding the same values (compared
    flattened); returns the problems: committed tensors without a partner, found ones left over."""
    buckets = {}
    for name, tensor in found.items():
        buckets.setdefault(fingerprint(tensor), []).append(name)
    problems = []
    for name, tensor in committed.items():
        candidates = buckets.get(fingerprint(tensor), [])
        partner = next((c for c in candidates if found[c].flatten().equal(tensor.flatten())), None)
        if partner is None:
            problems.append(f"{name}: no tensor in the file holds its values")
        else:
            candidates.remove(partner)
    problems += [f"{name}: holds no committed tensor's values" for names in buckets.values() for name in names]
    return problems


def compare_parameters(model, committed):
    """Problems between a loaded model's parameters and the committed tensors (names and values)."""
    params = dict(model.named_parameters())
    problems = [f"not loaded: {k}" for k in sorted(set(committed) - set(params))]
    problems += [f"not in the committed file: {k}" for k in sorted(set(params) - set(committed))]
    for key in sorted(set(params) & set(committed)):
        mine = params[key].detach()
        if mine.dtype != torch.float32 or mine.shape != committed[key].shape or not mine.equal(committed[key]):
            problems.append(f"{key}: {mine.dtype} {tuple(mine.shape)}, different values")
    return problems


def load_one_from_file(checkpoint, pipeline_dir, committed_models, component):
    """text_encoder_2 (or another component) as StableDiffusionXLPipeline.from_single_file reads it
    from the file, every other model passed in from the diffusers layout."""
    from diffusers import StableDiffusionXLPipeline

    passed = {name: model for name, model in committed_models.items() if name != component}
    pipe = StableDiffusionXLPipeline.from_single_file(checkpoint, config=pipeline_dir, local_files_only=True,
                                                      add_watermarker=False, torch_dtype=torch.float32, **passed)
    return getattr(pipe, component)


def versions():
    import diffusers
    import safetensors
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "diffusers": diffusers.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    pipeline_dir, checkpoint, report_path = sys.argv[1:]
    single = load_file(checkpoint)
    committed = {part: load_file(os.path.join(pipeline_dir, path)) for part, path in FILES.items()}
    failures = []

    outside = sorted(k for k in single if not k.startswith(tuple(PREFIXES.values())))
    if outside:
        failures.append(f"keys outside the SGM prefixes: {outside[:8]}")
    not_fp32 = sorted(k for k, v in single.items() if v.dtype != torch.float32)
    if not_fp32:
        failures.append(f"tensors that are not float32: {not_fp32[:8]}")
    under = {part: {k[len(p):]: v for k, v in single.items() if k.startswith(p)} for part, p in PREFIXES.items()}

    text = under["text_encoder"]
    if set(text) != set(committed["text_encoder"]):
        failures.append(f"text_encoder names differ: {sorted(set(text) ^ set(committed['text_encoder']))[:8]}")
    failures += [f"text_encoder {k}: changed" for k in sorted(set(text) & set(committed["text_encoder"]))
                 if not text[k].equal(committed["text_encoder"][k])]
    for part in ("unet", "vae"):
        failures += [f"{part} {p}" for p in pair_by_values(committed[part], under[part])]

    from diffusers import StableDiffusionXLPipeline

    reference = StableDiffusionXLPipeline.from_pretrained(pipeline_dir, add_watermarker=False,
                                                          torch_dtype=torch.float32)
    committed_models = {part: getattr(reference, part) for part in FILES}
    # The loaded reference models must be the committed tensors, or the comparison below means little.
    for part in FILES:
        failures += [f"reference {part}: {p}" for p in compare_parameters(committed_models[part], committed[part])]

    loader = {}
    for part in ("text_encoder_2", "text_encoder", "unet", "vae"):
        try:
            model = load_one_from_file(checkpoint, pipeline_dir, committed_models, part)
            problems = compare_parameters(model, committed[part])
            loader[part] = {"loaded": True, "identical": not problems, "problems": problems[:20],
                            "problem_count": len(problems)}
        except Exception as error:  # the outcome is recorded; only text_encoder_2's is asserted
            traceback.print_exc()
            loader[part] = {"loaded": False, "error": f"{type(error).__name__}: {error}"[:2000]}
        print(f"diffusers' from_single_file, {part}: {json.dumps(loader[part])[:400]}", flush=True)
    if not loader["text_encoder_2"].get("identical"):
        failures.append(f"text_encoder_2 through diffusers' loader: {loader['text_encoder_2']}")

    report = {
        "file": os.path.basename(checkpoint),
        "bytes": os.path.getsize(checkpoint),
        "tensors": len(single),
        "tensors_per_prefix": {PREFIXES[part]: len(under[part]) for part in PREFIXES},
        "committed_tensors": {part: len(committed[part]) for part in FILES},
        "checks": ["float32, SGM prefixes only", "text_encoder: same names and values under the prefix",
                   "unet, vae: one-to-one identical values", "text_encoder_2: diffusers' loader gives the "
                   "committed parameters"],
        "failures": failures,
        "diffusers_from_single_file": loader,
        "versions": versions(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(report_path)), exist_ok=True)
    with open(report_path, "w") as handle:
        json.dump(report, handle, indent=1)
        handle.write("\n")
    if failures:
        sys.exit("FAILED:\n" + "\n".join(failures[:40]))
    print(f"{checkpoint}: {len(single)} tensors {report['tensors_per_prefix']}; "
          f"the committed weights of {pipeline_dir}", flush=True)


if __name__ == "__main__":
    main()
