"""Shared settings of the reference-data scripts: the two tiny pipeline configurations,
the scheduler list, and the seeded weight perturbation."""

import torch

SD15_SCHEDULER = {
    # scheduler/scheduler_config.json of runwayml/stable-diffusion-v1-5
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}

SD2_SCHEDULER = {
    # stabilityai/stable-diffusion-2-1's DDIM config, with trailing timestep spacing
    "_class_name": "DDIMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "timestep_spacing": "trailing",
    "trained_betas": None,
}

PIPELINES = {
    "tiny-sd": {
        "seed": 0,
        "scheduler": SD15_SCHEDULER,
        "text_encoder": dict(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
            projection_dim=32,
            layer_norm_eps=1e-5,
        ),
        "pad_token": "<|endoftext|>",
        "unet": dict(
            sample_size=16,
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=2,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=32,
        ),
        "vae": dict(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(32, 64),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=32,
        ),
    },
    "tiny-sd2": {
        "seed": 1,
        "scheduler": SD2_SCHEDULER,
        "text_encoder": dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            hidden_act="gelu",
            projection_dim=32,
            layer_norm_eps=1e-5,
        ),
        "pad_token": "!",
        "unet": dict(
            sample_size=16,
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 32),
            layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            upcast_attention=True,
            norm_num_groups=32,
        ),
        "vae": dict(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(32, 32),
            layers_per_block=2,
            latent_channels=4,
            norm_num_groups=32,
            sample_size=32,
        ),
    },
}

# name -> (diffusers class name, overrides applied on top of the pipeline's scheduler config)
SCHEDULERS = {
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_karras": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
}


def perturb(module, seed):
    """Move every parameter off its textbook initial value, reproducibly.

    Matrices and kernels get normal noise of half their own spread (clamped to 0.01..0.1) so
    activations keep their scale; vectors (norm weights, biases) get N(0, 0.1) noise, so a
    parity test cannot pass with unit norms or zero biases.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(module.named_parameters(), key=lambda item: item[0]):
            if param.dim() >= 2:
                spread = float(param.std()) if param.numel() > 1 else 0.0
                std = min(max(0.5 * spread, 0.01), 0.1)
            else:
                std = 0.1
            param.add_(torch.randn(param.shape, generator=generator, dtype=param.dtype) * std)

SDXL_SCHEDULER = {
    # scheduler/scheduler_config.json of stabilityai/stable-diffusion-xl-base-1.0
    "_class_name": "EulerDiscreteScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}

# The tiny SDXL (base 1.0 architecture): its own entry, not in PIPELINES (the SD scripts iterate
# those with StableDiffusionPipeline). Sizes differ between the two text encoders and between
# the hidden and projection widths of the second, so a swapped or missing piece changes shapes.
TINY_SDXL = {
    "seed": 2,
    "scheduler": SDXL_SCHEDULER,
    # CLIP ViT-L's role: tiny-sd's tokenizer (pads with <|endoftext|>)
    "tokenizer": "tiny-sd",
    "text_encoder": dict(
        hidden_size=16,
        intermediate_size=40,
        num_hidden_layers=3,
        num_attention_heads=2,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        projection_dim=16,
        layer_norm_eps=1e-5,
    ),
    # OpenCLIP ViT-bigG's role: tiny-sd2's tokenizer (pads with "!"), gelu, with projection
    "tokenizer_2": "tiny-sd2",
    "text_encoder_2": dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act="gelu",
        projection_dim=24,
        layer_norm_eps=1e-5,
    ),
    "unet": dict(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        # SDXL: DownBlock2D first, then cross-attention levels with deeper transformers
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(16, 16, 24),
        layers_per_block=1,
        transformer_layers_per_block=[1, 1, 2],
        # heads per level, diffusers' legacy naming as SDXL's [5, 10, 20]: head dim 8 here
        attention_head_dim=[2, 2, 3],
        use_linear_projection=True,
        cross_attention_dim=16 + 32,  # hidden sizes of text_encoder + text_encoder_2
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        # 6 time ids x addition_time_embed_dim + text_encoder_2's projection_dim
        projection_class_embeddings_input_dim=6 * 8 + 24,
        norm_num_groups=8,
    ),
    "vae": dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
        scaling_factor=0.13025,
        force_upcast=True,
    ),
}
