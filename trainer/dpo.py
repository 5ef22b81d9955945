"""Flow-matching DPO (the Diffusion-DPO form, Wallace et al. 2023; time: see trainer.flow).

Winner w and loser l share the condition c, the time t and the noise eps. With per-sample
flow errors m = ||v - v_theta(x_t, c, t)||^2 (policy) and r (the frozen reference, the SFT checkpoint):

    loss = -log sigmoid( -(beta / 2) * [ (m_w - r_w) - (m_l - r_l) + dpop * max(0, m_w - r_w) ] )
           [+ sft_weight * m_w]  [+ mean m_replay]

dpop (lambda, DPO-Positive: Pal et al. 2024; 0 = the Diffusion-DPO loss) charges the margin for every bit the
chosen side's flow error rose above the reference's. Plain DPO does raise it: it can widen the margin faster by
pushing the rejected side's error up, and in the flywheel it lowered held-out vIoU against its SFT parent while
rewards/chosen went negative (trainer/README.md, session 31).

The logged `loss` is the optimized one (the whole line above), with its parts `loss/dpo` (the
DPO term), `loss/sft` (mean m_w) and, with --replay, `loss/replay` (the flow error of rows of
the parent's training data drawn each step: `dpo_step`). The implicit rewards, logged under TRL's names, are
rewards/chosen = -(beta/2)(m_w - r_w), rewards/rejected = -(beta/2)(m_l - r_l),
rewards/margins = chosen - rejected and rewards/accuracies = mean[chosen > rejected] with ties
counted as 1/2 (so policy = reference gives exactly 0.5 and loss/dpo log 2). No condition
dropout: DPO tunes the conditional model.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .flow import loss_weights, make_flow_batch
from .latents import attach_latents
from .loop import fit, step_generator
from .objectives import FlowObjective, condition_category, data_targets, draw_noise, flow_inputs
from .checkpoints import load_checkpoint, resolve
from .data.views import views_to_tensor
from .sft import check_replay_share, load_replay
from .stage import base_manifest, build_model, load_data, setup


def dpo_loss(m_w, m_l, r_w, r_l, beta: float, dpop: float = 0.0):
    """Per-sample DPO loss and the implicit rewards (chosen, rejected), all (B,).

    With dpop = lambda > 0 (DPO-Positive, Pal et al. 2024), the margin inside the sigmoid loses
    (beta/2) lambda max(0, m_w - r_w): the policy gains nothing by raising the chosen side's flow error
    above the reference's, which plain DPO does when it can push the rejected side up faster.
    """
    chosen = -0.5 * beta * (m_w - r_w)
    rejected = -0.5 * beta * (m_l - r_l)
    margin = chosen - rejected
    if dpop:
        margin = margin - 0.5 * beta * dpop * torch.clamp(m_w - r_w, min=0)
    return -F.logsigmoid(margin), chosen, rejected


def dpo_total(loss, m_w, sft_weight: float) -> torch.Tensor:
    """The optimized loss: mean DPO term + sft_weight * mean winner flow error."""
    return loss.mean() + sft_weight * m_w.mean()


def dpo_metrics(loss, chosen, rejected, m_w, m_l, r_w, r_l, sft_weight: float = 0.0, prefix: str = "") -> dict:
    """TRL-named metrics of one batch; `loss` is the optimized total, `loss/dpo` + sft_weight * `loss/sft`."""
    margin = chosen - rejected
    return {f"{prefix}loss": dpo_total(loss, m_w, sft_weight).item(),
            f"{prefix}loss/dpo": loss.mean().item(),
            f"{prefix}loss/sft": m_w.mean().item(),
            f"{prefix}rewards/chosen": chosen.mean().item(),
            f"{prefix}rewards/rejected": rejected.mean().item(),
            f"{prefix}rewards/margins": margin.mean().item(),
            f"{prefix}rewards/accuracies": ((torch.sign(margin) + 1) / 2).mean().item(),
            f"{prefix}model_mse": ((m_w + m_l) / 2).mean().item(),
            f"{prefix}ref_mse": ((r_w + r_l) / 2).mean().item()}


def pair_inputs(model, batch: dict, gen: torch.Generator, cfg):
    """Stack [chosen; rejected] sharing the condition, t and noise -> (views (B), drop (B), FlowBatch (2B rows),
    layout_mask (2B)); call the objective with repeat=2 so the condition is encoded once per pair."""
    x0_w, lay = data_targets(model, batch, "occ")
    x0_l, _ = data_targets(model, batch, "occ_rejected")
    B = x0_w.shape[0]
    t, eps_s, eps_l, _ = draw_noise(model, B, gen, cfg, x0_w.device)
    two = lambda x: torch.cat([x, x])
    fb = make_flow_batch(torch.cat([x0_w, x0_l]), two(lay), two(t), two(eps_s), two(eps_l))
    views = views_to_tensor(batch["views"])
    return views, torch.zeros(B, dtype=torch.bool, device=x0_w.device), fb, two(batch["layout_mask"])


def replay_rows(cfg) -> int:
    """Replayed rows per DPO step: round(replay_share x batch_size), at least 1 (0 without --replay). A DPO batch
    holds pairs, so the share sets how many rows each step adds, not a split of the batch as in SFT."""
    return max(1, round(cfg.replay_share * cfg.batch_size)) if cfg.replay else 0


def dpo_step(cfg, model, ref_objective, replay=None):
    """Return step_fn(objective, batch, gen) -> (loss, logs).

    With `replay` (a dataset of the parent's training rows), each step also draws replay_rows(cfg) of them at random
    (from the step's generator, after the pairs' noise, so a resumed run draws the same) and adds their mean flow
    error to the loss, an SFT step on them (`loss/replay`). Measured in session 30 (trainer/README.md), it did not
    stop DPO lowering a strong π_0's held-out vIoU, so the flywheel's DPO does not replay.
    """
    n_replay = replay_rows(cfg) if replay is not None else 0

    def step_fn(objective, batch, gen):
        inputs, given = pair_inputs(model, batch, gen, cfg), condition_category(model, batch)
        extra = None
        if n_replay:
            rows = torch.randint(len(replay), (n_replay,), generator=gen).tolist()
            device = inputs[0].device
            rbatch = {k: v.to(device) for k, v in replay.batch(rows).items()}
            extra = (*flow_inputs(model, rbatch, gen, cfg), condition_category(model, rbatch, gen))
        m = objective(*inputs, repeat=2, given=given, extra=extra)
        m_w, m_l = m[:2 * len(inputs[0])].chunk(2)
        with torch.no_grad():
            r_w, r_l = ref_objective(*inputs, repeat=2, given=given).chunk(2)
        loss, chosen, rejected = dpo_loss(m_w, m_l, r_w, r_l, cfg.beta, cfg.dpop)
        logs = dpo_metrics(loss, chosen, rejected, m_w, m_l, r_w, r_l, cfg.sft_weight)
        total = dpo_total(loss, m_w, cfg.sft_weight)
        if n_replay:
            m_r = m[2 * len(inputs[0]):]
            logs["loss/replay"] = m_r.mean().item()
            total = total + m_r.mean()
            logs["loss"] = total.item()
        return total, logs
    return step_fn


def dpo_eval_fn(cfg, model, ref_objective, dataset, n_batches: int = 4):
    """eval_ metrics on held-out pairs with fixed noise."""
    objective = FlowObjective(model, loss_weights(cfg))

    @torch.no_grad()
    def fn(_model):
        model.eval()
        parts = []
        for k in range(n_batches):
            rows = [i % len(dataset) for i in range(k * cfg.batch_size, (k + 1) * cfg.batch_size)]
            batch = {key: v.to(next(model.parameters()).device) for key, v in dataset.batch(rows).items()}
            inputs = pair_inputs(model, batch, step_generator(cfg.seed + 99, k, 0), cfg)
            given = condition_category(model, batch)
            m_w, m_l = objective(*inputs, repeat=2, given=given).chunk(2)
            r_w, r_l = ref_objective(*inputs, repeat=2, given=given).chunk(2)
            loss, c, r = dpo_loss(m_w, m_l, r_w, r_l, cfg.beta, cfg.dpop)
            parts.append(dpo_metrics(loss, c, r, m_w, m_l, r_w, r_l, cfg.sft_weight, prefix="eval_"))
        model.train()
        return {k: sum(p[k] for p in parts) / len(parts) for k in parts[0]}
    return fn


def load_reference(path: str, device) -> torch.nn.Module:
    """The frozen reference: EMA weights of the SFT checkpoint, no gradients."""
    ref, _ = load_checkpoint(path, weights="ema", device=device)
    return ref.eval().requires_grad_(False)


def train(cfg):
    """Run DPO from cfg.init against the frozen reference (cfg.ref or cfg.init)."""
    if not cfg.init:
        raise ValueError("DPO needs --init (the SFT checkpoint to start from)")
    if cfg.category_loss > 0:
        raise ValueError("--category-loss trains in the flow-matching stages (pretrain, sft); DPO keeps its "
                         "parent's category head as it is")
    check_replay_share(cfg)
    device, rank, world = setup(cfg)
    model, parent = build_model(cfg, device)
    ref_path = cfg.ref or cfg.init
    ref = load_reference(ref_path, device)
    if ref.cfg != model.cfg:
        raise ValueError(f"reference {ref_path} has a different model config than --init {cfg.init}")
    data = load_data(cfg.data, model, kind="pairs", progress=cfg.progress)
    eval_data = load_data([cfg.eval_data], model, kind="pairs", progress=cfg.progress) if cfg.eval_data else None
    model.set_trainable(layout_only=cfg.freeze_shape)
    replay = load_replay(cfg, model) if cfg.replay else None
    if cfg.cache_latents:
        for ds in (d for d in (data, eval_data, replay) if d is not None):
            attach_latents(model, ds, progress=cfg.progress)
    objective = FlowObjective(model, loss_weights(cfg))
    ref_objective = FlowObjective(ref, loss_weights(cfg))
    manifest = base_manifest(parent, [data, eval_data], world, model)
    manifest.update(ref=str(resolve(ref_path)), ref_hash=ref.checkpoint_hash, beta=cfg.beta, dpop=cfg.dpop)
    if replay is not None:
        manifest["replay"] = {"sources": [str(p) for p in cfg.replay], "rows": len(replay), "pairs": len(data),
                              "share": cfg.replay_share, "rows_per_step": replay_rows(cfg)}
    ev = dpo_eval_fn(cfg, model, ref_objective, eval_data) if eval_data is not None else None
    ema = fit(cfg, model, objective, data, dpo_step(cfg, model, ref_objective, replay), manifest, device, rank, world,
              ev)
    return model, ema
