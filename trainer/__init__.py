"""trainer: the geometry flow model of the 3D data engine (PyTorch only, no Django).

A conditional rectified flow over (coarse occupancy in a VAE latent, layout R/t/s), conditioned
on a crop view and a full view of the image with the object mask. The time convention: see trainer.flow.

Stages, each a config dataclass (trainer/config.py) and a CLI subcommand:

    python -m trainer prepare  --config cpu --kind render    --out var/data/render
    python -m trainer prepare  --config cpu --kind composite --out var/data/mid --seed 1
    python -m trainer pretrain --config cpu --data var/data/render --out var/runs/pretrain
    python -m trainer sft      --config cpu --stage midtrain --init var/runs/pretrain --data var/data/mid --out var/runs/mid
    python -m trainer sft      --config cpu --init var/runs/mid --data EXPORT_DIR --out var/runs/sft
    python -m trainer dpo      --config cpu --init var/runs/sft --data EXPORT_DIR --out var/runs/dpo
    python -m trainer distill  --config cpu --init var/runs/dpo --data var/data/mid --out var/runs/distill
    python -m trainer evaluate --ckpt var/runs/dpo --baseline var/runs/sft --data var/data/heldout --out report.json
    python -m trainer sample   --ckpt var/runs/distill --image img.png --mask mask.png --mode shortcut
    python -m trainer sft      --config var/runs/sft/last --seed 1 --out var/runs/sft-seed1   # a saved run's config
    python -m trainer bench    --work var/bench           # prints JSON
    torchrun --nproc_per_node 2 -m trainer sft ...        # DDP (gloo on CPU, nccl on GPU)

Running a stage again with the same --out resumes from its last checkpoint, and `prepare` again
resumes at its first unfinished shard (caches are memory-mapped, so they may exceed RAM). Entry points for the
rest of the product: `checkpoints.load_checkpoint`, `sampling.sample`, `rewards.implicit_reward`
(with `rewards.load_reward_models`), and `metrics`.
"""
