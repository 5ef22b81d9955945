"""A stand-in Depth Anything checkpoint the tests write themselves: the real architecture, tiny and randomly initialized.

Same classes, same parameter names and the same files (config.json, model.safetensors,
preprocessor_config.json) as a published checkpoint such as Depth-Anything-V2-Metric-Indoor-Small-hf,
whose config differs only in its sizes (DINOv2 ViT-S/14: hidden 384, 12 layers, 6 heads; neck
48/96/192/384, fusion 64, head 32).
"""

import json


def tiny_config(metric=True):
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2, image_size=56,
                            patch_size=14, out_indices=[1, 2, 3, 4], reshape_hidden_states=False, apply_layernorm=True)
    return DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=32, patch_size=14, neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type="metric" if metric else "relative",
        max_depth=10 if metric else 1)


def write_tiny_checkpoint(folder, metric=True, seed=0, size=56):
    """Write a tiny Depth Anything checkpoint into `folder`; return the model it holds (eval mode, CPU)."""
    import torch
    from transformers import DepthAnythingForDepthEstimation

    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(tiny_config(metric)).eval()
    model.save_pretrained(str(folder), safe_serialization=True)
    # The published checkpoints' preprocessing, at a small input size.
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "DPTImageProcessor", "do_resize": True, "size": {"height": size, "width": size},
        "keep_aspect_ratio": True, "ensure_multiple_of": 14, "resample": 3, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225], "do_pad": False}))
    return model
