#!/usr/bin/env python3
"""StableDiffusionPipeline with LoRAs (diffusers' load_lora_weights) on the committed tiny-sd
(CPU, fp32): a random LoRA in each format users download, made here from a fixed seed, and
images made with them over a few schedulers.

The LoRAs (rank RANK, on every linear layer and 1x1 convolution of the UNet's transformer
blocks, proj_in/proj_out included, and on every linear layer of the text encoder's layers):
  lora/tiny-sd_kohya.safetensors  kohya / A1111 names ("lora_unet_<path with _>.lora_down.weight",
                                  ".lora_up.weight", ".alpha" = KOHYA_ALPHA != RANK; "lora_te_")
  lora/tiny-sd_peft.safetensors   diffusers / PEFT names ("unet.<path>.lora_A.weight",
                                  ".lora_B.weight", "text_encoder.") with diffusers'
                                  "lora_adapter_metadata" (lora_alpha PEFT_ALPHA[component], r)
Cases (each one image from its own seed: torch.Generator("cpu").manual_seed(seed)):
  "<format>.<scheduler>"  one LoRA, cross_attention_kwargs={"scale": SCALE} (the UNet's and, in
                          encode_prompt, the text encoder's LoRA scale)
  "both.<scheduler>"      both LoRAs at once: set_adapters([kohya, peft], BOTH_WEIGHTS)
  "none.<scheduler>"      no LoRA, the same seed: the LoRAs must change the picture
Written under --out:
  tiny-sd_lora.safetensors  per case: .final_latents (1, 4, 16, 16) output_type="latent";
                            .image (1, 32, 32, 3) output_type="np", float32 in [0, 1], HWC
  lora.json                 the cases, the LoRA settings, versions, the checks below
  lora/                     the two LoRA files
Copy it all into tests/data/reference (lora/ included) for tests/model/lora_parity_test.cpp.

Before it writes anything it checks that this environment remakes the committed 10-step
reference/tiny-sd_pipeline.safetensors latents (build_end_to_end.py's check), that diffusers
loaded every module of each LoRA (one PEFT layer per LoRA module, on the UNet and the text
encoder), that each run repeats exactly, and that every LoRA case differs from its "none" case.

Usage: build_lora.py --data tests/data --out DIR
"""

import argparse
import importlib.util
import json
import os
import platform
import sys

import numpy
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from build_end_to_end import check_reproduces_committed, expect, load_pipeline, plain  # noqa: E402
from build_references import E2E_NEGATIVE, E2E_PROMPT, GUIDANCE, contiguous, make_scheduler, stats  # noqa: E402

NAME = "tiny-sd"
RANK = 4
KOHYA_ALPHA = 2.0  # != RANK: the update is scaled by alpha / rank = 0.5
PEFT_ALPHA = {"unet": 8.0, "text_encoder": 2.0}  # scales 2 and 0.5
SCALE = 0.7
BOTH_WEIGHTS = (0.7, -0.4)
SCHEDULERS = ("euler", "dpmpp_2m", "ddim")
BOTH_SCHEDULER = "euler_ancestral"
STEPS = 10
LORA_SEED = 7
FIRST_SEED = 3000  # case k uses seed FIRST_SEED + k
# The smallest change (in 8-bit levels) a LoRA must make to a picture for the case to test it.
MIN_EFFECT_LEVELS = 8


def targets(pipe):
    """(component, module path, module) of every module a LoRA here adapts."""
    out = []
    for name, module in pipe.unet.named_modules():
        if ".attentions." not in name:
            continue
        if isinstance(module, torch.nn.Linear) or (isinstance(module, torch.nn.Conv2d)
                                                    and module.kernel_size == (1, 1)):
            out.append(("unet", name, module))
    for name, module in pipe.text_encoder.named_modules():
        if ".layers." in name and isinstance(module, torch.nn.Linear):
            out.append(("text_encoder", name, module))
    return out


def random_lora(pipe):
    """(kohya tensors, peft tensors, peft metadata): one random update per target, the same
    matrices in both files."""
    generator = torch.Generator("cpu").manual_seed(LORA_SEED)
    kohya, peft, modules = {}, {}, {"unet": [], "text_encoder": []}
    for component, path, module in targets(pipe):
        conv = isinstance(module, torch.nn.Conv2d)
        fan_in = module.in_channels if conv else module.in_features
        fan_out = module.out_channels if conv else module.out_features
        down = torch.randn(RANK, fan_in, generator=generator) / fan_in ** 0.5
        up = torch.randn(fan_out, RANK, generator=generator) * (0.5 / RANK ** 0.5)
        if conv:
            down, up = down[:, :, None, None], up[:, :, None, None]
        stem = ("lora_unet_" if component == "unet" else "lora_te_") + path.replace(".", "_")
        kohya[f"{stem}.lora_down.weight"] = down.contiguous()
        kohya[f"{stem}.lora_up.weight"] = up.contiguous()
        kohya[f"{stem}.alpha"] = torch.tensor(KOHYA_ALPHA)
        peft[f"{component}.{path}.lora_A.weight"] = down.clone().contiguous()
        peft[f"{component}.{path}.lora_B.weight"] = up.clone().contiguous()
        modules[component].append(path)
    metadata = {}
    for component, paths in modules.items():
        metadata.update({f"{component}.r": RANK, f"{component}.lora_alpha": PEFT_ALPHA[component],
                         f"{component}.target_modules": sorted(paths)})
    return kohya, peft, metadata, modules


def lora_layers(model, adapter):
    """Module paths where PEFT put `adapter`."""
    return sorted(name for name, module in model.named_modules()
                  if hasattr(module, "lora_A") and adapter in getattr(module, "lora_A"))


def fresh_pipeline(data_dir, files, modules, adapters):
    """tiny-sd as committed with `adapters` loaded (checked: every module of the file)."""
    pipe, base_config, size = load_pipeline(data_dir, NAME)
    for adapter in adapters:
        pipe.load_lora_weights(files[adapter], adapter_name=adapter)
        for component in ("unet", "text_encoder"):
            loaded = lora_layers(getattr(pipe, component), adapter)
            expect(loaded == sorted(modules[component]),
                   f"{adapter}: diffusers adapted {len(loaded)} {component} modules, the file has "
                   f"{len(modules[component])}")
    return pipe, base_config, size


def run(pipe, base_config, scheduler, seed, size, extra):
    """latents, then the image from the same seed; the second run must denoise to the same
    latents."""
    common = dict(prompt=E2E_PROMPT, negative_prompt=E2E_NEGATIVE, guidance_scale=GUIDANCE,
                  num_inference_steps=STEPS, height=size, width=size, **extra)
    pipe.scheduler = make_scheduler(base_config, scheduler)
    with torch.no_grad():
        latents = pipe(output_type="latent", generator=torch.Generator("cpu").manual_seed(seed), **common).images
    pipe.scheduler = make_scheduler(base_config, scheduler)
    last = []

    def record(_pipe, _i, _t, kwargs):
        last[:] = [kwargs["latents"].clone()]
        return kwargs

    with torch.no_grad():
        image = pipe(output_type="np", generator=torch.Generator("cpu").manual_seed(seed),
                     callback_on_step_end=record, **common).images
    what = f"{scheduler}, seed {seed}, {extra}"
    expect(tuple(latents.shape) == (1, 4, size // 2, size // 2) and bool(torch.isfinite(latents).all()),
           f"{what}: latents {tuple(latents.shape)}")
    expect(len(last) == 1 and torch.equal(last[0], latents), f"{what}: the image run denoised to other latents")
    expect(image.shape == (1, size, size, 3) and image.dtype == numpy.float32 and bool(numpy.isfinite(image).all()),
           f"{what}: image {image.shape} {image.dtype}")
    return latents, torch.from_numpy(numpy.ascontiguousarray(image))


def main():
    parser = argparse.ArgumentParser(description="LoRA references on tiny-sd")
    parser.add_argument("--data", required=True, help="tests/data (the committed pipelines and references)")
    parser.add_argument("--out", required=True, help="folder for the new files")
    args = parser.parse_args()

    import diffusers
    import peft
    import transformers

    lora_dir = os.path.join(args.out, "lora")
    os.makedirs(lora_dir, exist_ok=True)
    pipe, base_config, size = load_pipeline(args.data, NAME)
    reproduced = check_reproduces_committed(pipe, base_config, size, args.data, NAME)
    kohya, peft_tensors, metadata, modules = random_lora(pipe)
    files = {"kohya": os.path.join(lora_dir, f"{NAME}_kohya.safetensors"),
             "peft": os.path.join(lora_dir, f"{NAME}_peft.safetensors")}
    save_file(kohya, files["kohya"])
    save_file(peft_tensors, files["peft"],
              metadata={"format": "pt", "lora_adapter_metadata": json.dumps(metadata, indent=2, sort_keys=True)})

    cases = []
    for scheduler in SCHEDULERS:
        for fmt in ("none", "kohya", "peft"):
            cases.append({"name": f"{fmt}.{scheduler}", "scheduler": scheduler,
                          "loras": [] if fmt == "none" else [{"name": f"{NAME}_{fmt}", "scale": SCALE}]})
    cases.append({"name": f"none.{BOTH_SCHEDULER}", "scheduler": BOTH_SCHEDULER, "loras": []})
    cases.append({"name": f"both.{BOTH_SCHEDULER}", "scheduler": BOTH_SCHEDULER,
                  "loras": [{"name": f"{NAME}_kohya", "scale": BOTH_WEIGHTS[0]},
                            {"name": f"{NAME}_peft", "scale": BOTH_WEIGHTS[1]}]})
    # A scheduler's cases share a seed, so that "none" is the same picture without the LoRAs.
    seeds = {}
    for case in cases:
        case["seed"] = seeds.setdefault(case["scheduler"], FIRST_SEED + len(seeds))

    tensors = {}
    for case in cases:
        formats = [lora["name"][len(NAME) + 1:] for lora in case["loras"]]
        pipe, base_config, size = fresh_pipeline(args.data, files, modules, formats)
        if len(formats) == 2:
            pipe.set_adapters(formats, adapter_weights=list(BOTH_WEIGHTS))
            extra = {}
        elif formats:
            extra = {"cross_attention_kwargs": {"scale": SCALE}}
        else:
            extra = {}
        latents, image = run(pipe, base_config, case["scheduler"], case["seed"], size, extra)
        tensors[f"{case['name']}.final_latents"] = latents
        tensors[f"{case['name']}.image"] = image
        case.update(steps=STEPS, guidance_scale=GUIDANCE, negative_prompt=E2E_NEGATIVE, width=size, height=size,
                    final_latents=stats(latents), image=stats(image))
        print(f"{case['name']}: seed {case['seed']}, latents std {case['final_latents']['std']:.4f}", flush=True)
    for case in cases:
        if case["loras"]:
            base = tensors[f"none.{case['scheduler']}.image"]
            levels = float((tensors[f"{case['name']}.image"] - base).abs().max()) * 255
            case["levels_from_none"] = levels
            expect(levels >= MIN_EFFECT_LEVELS, f"{case['name']}: the LoRA moved the picture by {levels:.1f} levels")

    meta = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "diffusers": diffusers.__version__, "peft": peft.__version__, "numpy": numpy.__version__,
                     "python": platform.python_version(),
                     "ftfy_installed": importlib.util.find_spec("ftfy") is not None},
        "device": "cpu", "dtype": "float32", "pipeline": NAME, "prompt": E2E_PROMPT,
        "reproduced_committed_pipeline": reproduced,
        "lora": {"rank": RANK, "kohya_alpha": KOHYA_ALPHA, "peft_alpha": PEFT_ALPHA, "seed": LORA_SEED,
                 "files": {k: os.path.relpath(v, args.out) for k, v in files.items()},
                 "modules": {k: len(v) for k, v in modules.items()}},
        "generator": "torch.Generator('cpu').manual_seed(seed), one per run",
        "cases": cases,
    }
    path = os.path.join(args.out, f"{NAME}_lora.safetensors")
    save_file(contiguous(tensors), path)
    print(f"wrote {path}: {len(tensors)} tensors", flush=True)
    path = os.path.join(args.out, "lora.json")
    with open(path, "w") as handle:
        json.dump(plain(meta), handle, indent=1, allow_nan=False)
        handle.write("\n")
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
