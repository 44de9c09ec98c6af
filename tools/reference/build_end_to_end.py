#!/usr/bin/env python3
"""StableDiffusionPipeline end to end on the committed tiny pipelines (CPU, fp32), over a matrix of
cases: every scheduler of common.SCHEDULERS x STEP_COUNTS x GUIDANCE_VARIANTS.

Loads tests/data/tiny-sd and tests/data/tiny-sd2 as they are committed (nothing is rebuilt) and
writes, under --out:
  <pipeline>_end_to_end.safetensors  per case "<scheduler>.<steps>.<variant>":
      .final_latents (1, 4, 16, 16)   output_type="latent"
      .image         (1, 32, 32, 3)   output_type="np": float32 in [0, 1], HWC
      .timesteps     (model calls)    the scheduler's timesteps after the run (int64 or float32)
  end_to_end.json                    the cases (scheduler, steps, guidance, prompts, seed), the
                                     resolved scheduler configs, versions, and the checks below
Each case is one image from its own seed: torch.Generator("cpu").manual_seed(seed).

Before it writes anything it checks that this environment reproduces the committed
reference/<pipeline>_pipeline.safetensors (every scheduler at 10 steps), and it stops with an
error on anything unexpected (a pipeline that differs from common.py, a wrong shape, a
non-finite value, a run that does not repeat exactly).

Usage: build_end_to_end.py --data tests/data --out DIR
"""

import argparse
import importlib.util
import json
import math
import os
import platform
import sys

import numpy
import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from build_references import (  # noqa: E402  (the conventions of the committed _pipeline references)
    E2E_NEGATIVE,
    E2E_PROMPT,
    E2E_SEED,
    E2E_STEPS,
    GUIDANCE,
    contiguous,
    make_scheduler,
    stats,
)
from common import PIPELINES, SCHEDULERS  # noqa: E402

# 1000 training timesteps: 7 and 13 do not divide them (trailing spacing then rounds fractional
# timesteps), 25 does and is the count people use.
STEP_COUNTS = (7, 13, 25)
# name -> (guidance_scale, negative_prompt). Without a negative prompt diffusers encodes "" as the
# unconditional prompt. At guidance 1 there is no classifier-free guidance (one UNet row) and
# diffusers ignores the negative prompt, which is passed anyway to show it.
GUIDANCE_VARIANTS = {
    "negative": (GUIDANCE, E2E_NEGATIVE),
    "no_negative": (5.0, None),
    "no_guidance": (1.0, E2E_NEGATIVE),
}
FIRST_SEED = 1000  # case k of a pipeline uses seed FIRST_SEED + k
# Reproduction of the committed references: max abs error <= this x max(1, max abs of the
# reference), the bar of the C++ parity tests (tests/model/reference.hpp).
REPRODUCE_RELATIVE = 1e-4


class Unexpected(RuntimeError):
    pass


def expect(condition, message):
    if not condition:
        raise Unexpected(message)


def plain(value):
    """JSON-safe copy: tuples to lists, non-finite floats to strings (JSON has no Infinity)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (numpy.generic,)):
        return plain(value.item())
    return str(value)


def load_pipeline(data_dir, name):
    from diffusers import StableDiffusionPipeline

    folder = os.path.join(data_dir, name)
    expect(os.path.isfile(os.path.join(folder, "model_index.json")), f"{folder}: no model_index.json")
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    pipe = pipe.to("cpu", torch.float32)
    for part in ("text_encoder", "unet", "vae"):
        for key, param in getattr(pipe, part).named_parameters():
            expect(param.dtype == torch.float32 and param.device.type == "cpu",
                   f"{name}/{part}.{key}: {param.dtype} on {param.device}, expected float32 on cpu")
    # The committed scheduler config must be the one common.py describes: the schedulers below
    # are built from it exactly as build_references.py built them.
    spec = PIPELINES[name]["scheduler"]
    expect(type(pipe.scheduler).__name__ == spec["_class_name"],
           f"{name}: scheduler class {type(pipe.scheduler).__name__}, common.py says {spec['_class_name']}")
    base_config = dict(pipe.scheduler.config)
    for key, value in spec.items():
        if key != "_class_name":
            expect(base_config.get(key) == value, f"{name}: scheduler {key} = {base_config.get(key)!r}, "
                                                   f"common.py says {value!r}")
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    expect(size == 32 and pipe.unet.config.in_channels == 4, f"{name}: native size {size}, expected 32x32, 4 channels")
    return pipe, base_config, size


def run(pipe, base_config, scheduler, prompt, negative, guidance, steps, seed, size):
    """One image, twice from the same seed: latents, then the image; the latents the second run
    decodes must be the first run's, bit for bit. Also returns the UNet rows per step (2 with
    classifier-free guidance), as the pipeline decided."""
    pipe.scheduler = make_scheduler(base_config, scheduler)
    expect(type(pipe.scheduler).__name__ == SCHEDULERS[scheduler][0], f"{scheduler}: {type(pipe.scheduler).__name__}")
    common = dict(prompt=prompt, negative_prompt=negative, guidance_scale=guidance, num_inference_steps=steps,
                  height=size, width=size)
    with torch.no_grad():
        latents = pipe(output_type="latent", generator=torch.Generator("cpu").manual_seed(seed), **common).images
    timesteps = pipe.scheduler.timesteps.clone()

    pipe.scheduler = make_scheduler(base_config, scheduler)
    last = []

    def record(_pipe, _i, _t, kwargs):
        last[:] = [kwargs["latents"].clone()]
        return kwargs

    with torch.no_grad():
        image = pipe(output_type="np", generator=torch.Generator("cpu").manual_seed(seed), callback_on_step_end=record,
                     **common).images
    what = f"{scheduler} {steps} steps, guidance {guidance}, negative {negative!r}, seed {seed}"
    expect(isinstance(latents, torch.Tensor) and tuple(latents.shape) == (1, 4, size // 2, size // 2)
           and latents.dtype == torch.float32, f"{what}: latents {type(latents)} {getattr(latents, 'shape', None)}")
    expect(bool(torch.isfinite(latents).all()), f"{what}: non-finite latents")
    expect(len(last) == 1 and torch.equal(last[0], latents), f"{what}: the image run denoised to other latents")
    expect(torch.equal(pipe.scheduler.timesteps, timesteps), f"{what}: the two runs had other timesteps")
    expect(isinstance(image, numpy.ndarray) and image.shape == (1, size, size, 3) and image.dtype == numpy.float32,
           f"{what}: image {type(image)} {getattr(image, 'shape', None)} {getattr(image, 'dtype', None)}")
    expect(bool(numpy.isfinite(image).all()) and image.min() >= 0 and image.max() <= 1, f"{what}: image outside [0, 1]")
    calls = steps + 1 if scheduler == "pndm" else steps  # PNDM (PLMS) visits one timestep twice
    expect(len(timesteps) == calls, f"{what}: {len(timesteps)} timesteps, expected {calls}")
    rows = 2 if pipe.do_classifier_free_guidance else 1
    expect(rows == (2 if guidance > 1 else 1), f"{what}: {rows} UNet rows")
    return latents, torch.from_numpy(numpy.ascontiguousarray(image)), timesteps, rows


def check_reproduces_committed(pipe, base_config, size, data_dir, name):
    """The committed 10-step references (build_references.py: pipeline_reference) are remade here;
    an environment that cannot remake them must not add new ones."""
    path = os.path.join(data_dir, "reference", f"{name}_pipeline.safetensors")
    expect(os.path.isfile(path), f"{path} is missing: it is the check that this environment matches the committed data")
    committed = load_file(path)
    errors = {}
    for scheduler in SCHEDULERS:
        key = f"{scheduler}.final_latents"
        expect(key in committed, f"{path} lacks {key}")
        latents, _, timesteps, _ = run(pipe, base_config, scheduler, E2E_PROMPT, E2E_NEGATIVE, GUIDANCE, E2E_STEPS,
                                    E2E_SEED, size)
        expect(torch.equal(timesteps.double(), committed[f"{scheduler}.timesteps"].double()),
               f"{name} {scheduler}: timesteps differ from the committed ones")
        errors[scheduler] = check_remade(name, scheduler, latents, committed[key])
    return errors


def check_remade(name, scheduler, latents, committed_latents):
    """Stops unless `latents` remake the committed ones within REPRODUCE_RELATIVE of their scale;
    returns the max abs error."""
    expected = committed_latents.double()
    error = float((latents.double() - expected).abs().max())
    bound = REPRODUCE_RELATIVE * max(1.0, float(expected.abs().max()))
    print(f"{name} {scheduler}: committed 10-step latents remade, max abs error {error:.3g} (bound {bound:.3g})",
          flush=True)
    expect(error <= bound, f"{name} {scheduler}: this environment does not remake the committed latents "
                           f"(max abs error {error:.3g} > {bound:.3g})")
    return error


def cases():
    out = []
    for steps in STEP_COUNTS:
        for scheduler in SCHEDULERS:
            for variant, (guidance, negative) in GUIDANCE_VARIANTS.items():
                out.append({"name": f"{scheduler}.{steps}.{variant}", "scheduler": scheduler, "steps": steps,
                            "variant": variant, "guidance_scale": guidance, "negative_prompt": negative,
                            "seed": FIRST_SEED + len(out)})
    return out


def main():
    parser = argparse.ArgumentParser(description="end-to-end references over schedulers, step counts and guidance")
    parser.add_argument("--data", required=True, help="tests/data (the committed pipelines and references)")
    parser.add_argument("--out", required=True, help="folder for the new files")
    args = parser.parse_args()

    import diffusers
    import transformers

    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    meta = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "diffusers": diffusers.__version__, "numpy": numpy.__version__,
                     "python": platform.python_version(),
                     "ftfy_installed": importlib.util.find_spec("ftfy") is not None},
        "device": "cpu", "dtype": "float32", "torch_threads": torch.get_num_threads(),
        "prompt": E2E_PROMPT, "step_counts": list(STEP_COUNTS),
        "guidance_variants": {k: {"guidance_scale": g, "negative_prompt": n} for k, (g, n) in GUIDANCE_VARIANTS.items()},
        "generator": "torch.Generator('cpu').manual_seed(seed), one per case and run",
        "pipelines": {},
    }
    committed_meta = os.path.join(args.data, "reference", "metadata.json")
    if os.path.isfile(committed_meta):
        with open(committed_meta) as handle:
            committed_versions = json.load(handle).get("versions", {})
        for key in ("torch", "transformers", "diffusers"):
            if committed_versions.get(key) != meta["versions"][key]:
                print(f"note: {key} {meta['versions'][key]} here, the committed data was made with "
                      f"{committed_versions.get(key)}", flush=True)

    outputs = {}
    for name in PIPELINES:
        pipe, base_config, size = load_pipeline(args.data, name)
        entry = {"scheduler_config": plain(base_config), "width": size, "height": size,
                 "reproduced_committed_pipeline": check_reproduces_committed(pipe, base_config, size, args.data,
                                                                             name),
                 "schedulers": {}, "cases": []}
        tensors = {}
        for case in cases():
            latents, image, timesteps, rows = run(pipe, base_config, case["scheduler"], E2E_PROMPT, case["negative_prompt"],
                                            case["guidance_scale"], case["steps"], case["seed"], size)
            tensors[f"{case['name']}.final_latents"] = latents
            tensors[f"{case['name']}.image"] = image
            tensors[f"{case['name']}.timesteps"] = timesteps
            entry["schedulers"].setdefault(case["scheduler"], {"class": type(pipe.scheduler).__name__,
                                                               "resolved_config": plain(dict(pipe.scheduler.config))})
            entry["cases"].append(dict(case, model_calls=len(timesteps),
                                       unet_rows=rows,
                                       final_latents=stats(latents), image=stats(image)))
            print(f"{name} {case['name']}: seed {case['seed']}, {len(timesteps)} model calls, "
                  f"latents std {entry['cases'][-1]['final_latents']['std']:.4f}, "
                  f"image mean {entry['cases'][-1]['image']['mean']:.4f}", flush=True)
        entry["tensors"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                            for k, v in tensors.items()}
        meta["pipelines"][name] = entry
        outputs[name] = tensors

    # Written only once every pipeline and case went through.
    for name, tensors in outputs.items():
        path = os.path.join(args.out, f"{name}_end_to_end.safetensors")
        save_file(contiguous(tensors), path)
        print(f"wrote {path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes", flush=True)
    path = os.path.join(args.out, "end_to_end.json")
    with open(path, "w") as handle:
        json.dump(plain(meta), handle, indent=1, allow_nan=False)
        handle.write("\n")
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
