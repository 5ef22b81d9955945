import math

import numpy as np
import pytest
import torch

from trainer import dpo
from trainer.config import DPOConfig
from trainer.data.cache import write_shards
from trainer.data.loader import open_dataset
from trainer.data.pack import pack_occ
from trainer.dpo import dpo_loss, dpo_metrics, pair_inputs
from trainer.flow import loss_weights
from trainer.loop import step_generator
from trainer.objectives import FlowObjective
from trainer.checkpoints import load_checkpoint

from .conftest import assert_resume_is_exact


def test_loss_matches_hand_computation():
    m_w, m_l, r_w, r_l = (torch.tensor([x]) for x in (0.9, 1.2, 1.0, 1.0))
    loss, chosen, rejected = dpo_loss(m_w, m_l, r_w, r_l, beta=10.0)
    # chosen = -5 (0.9 - 1) = 0.5; rejected = -5 (1.2 - 1) = -1; loss = -log sigmoid(1.5)
    assert chosen.item() == pytest.approx(0.5) and rejected.item() == pytest.approx(-1.0)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1.5)))


def test_dpop_charges_only_a_chosen_side_made_less_likely():
    r_w, r_l = torch.tensor([1.0]), torch.tensor([1.0])
    m_l = torch.tensor([1.5])
    # The chosen side's error fell below the reference's: DPO-Positive changes nothing.
    better = torch.tensor([0.9])
    assert dpo_loss(better, m_l, r_w, r_l, 10.0, dpop=50.0)[0].item() == dpo_loss(better, m_l, r_w, r_l, 10.0)[0].item()
    # It rose (0.1 above), less than the rejected side's (0.5): plain DPO sees margin 2 and is content;
    # with lambda = 50 the margin loses 5 * 50 * 0.1 = 25.
    worse = torch.tensor([1.1], requires_grad=True)
    plain, chosen, rejected = dpo_loss(worse, m_l, r_w, r_l, 10.0)
    assert (chosen - rejected).item() == pytest.approx(2.0)
    positive, chosen_p, _ = dpo_loss(worse, m_l, r_w, r_l, 10.0, dpop=50.0)
    assert chosen_p.item() == pytest.approx(chosen.item())      # the logged implicit rewards are DPO's own
    assert positive.item() == pytest.approx(math.log(1 + math.exp(23.0)))
    # and its gradient pulls the chosen side's error down far harder than plain DPO's does
    grad_plain, = torch.autograd.grad(plain.sum(), worse)
    grad_positive, = torch.autograd.grad(positive.sum(), worse)
    assert grad_positive.item() > 100 * grad_plain.item() > 0


def test_policy_equal_to_reference_gives_log2_and_half_accuracy(tiny_ckpt, tiny_cache):
    model, _ = load_checkpoint(tiny_ckpt)
    ds = pair_dataset(tiny_cache)
    cfg = DPOConfig(config="tiny")
    obj = FlowObjective(model, loss_weights(cfg))
    with torch.no_grad():
        inputs = pair_inputs(model, ds.batch(range(8)), step_generator(0, 0, 0), cfg)
        m_w, m_l = obj(*inputs, repeat=2).chunk(2)
        r_w, r_l = obj(*inputs, repeat=2).chunk(2)
    loss, c, r = dpo_loss(m_w, m_l, r_w, r_l, cfg.beta)
    logs = dpo_metrics(loss, c, r, m_w, m_l, r_w, r_l)
    assert logs["loss"] == pytest.approx(math.log(2)) and logs["rewards/accuracies"] == 0.5
    assert logs["loss/dpo"] == logs["loss"]                     # sft_weight = 0: the total is the DPO term
    assert logs["rewards/margins"] == 0.0 and logs["model_mse"] == logs["ref_mse"]


def test_the_logged_loss_is_the_optimized_one_with_its_parts(tiny_ckpt, tiny_cache):
    policy, _ = load_checkpoint(tiny_ckpt, weights="model")      # differs from the EMA reference
    ref, _ = load_checkpoint(tiny_ckpt)
    ds, cfg = pair_dataset(tiny_cache), DPOConfig(config="tiny", sft_weight=0.5, batch_size=8)
    ref_obj = FlowObjective(ref, loss_weights(cfg))
    total, logs = dpo.dpo_step(cfg, policy, ref_obj)(FlowObjective(policy, loss_weights(cfg)), ds.batch(range(8)),
                                                     step_generator(0, 0, 0))
    assert logs["loss/sft"] > 0 and logs["loss/dpo"] != pytest.approx(math.log(2))
    assert logs["loss"] == pytest.approx(total.item()) == pytest.approx(logs["loss/dpo"] + 0.5 * logs["loss/sft"])
    ev = dpo.dpo_eval_fn(cfg, policy, ref_obj, ds, n_batches=2)(policy)
    assert ev["eval_loss"] == pytest.approx(ev["eval_loss/dpo"] + 0.5 * ev["eval_loss/sft"])
    assert {"eval_rewards/chosen", "eval_rewards/margins", "eval_rewards/accuracies"} <= set(ev)


def pair_dataset(tiny_cache, out=None):
    """Separable toy preference: chosen = the true shape, rejected = its complement."""
    src = open_dataset(str(tiny_cache), 16, 32)
    from trainer.data.pack import unpack_occ
    occ = unpack_occ(src.arrays["occ"], 16)
    arrays = {k: src.arrays[k] for k in ("views", "rotation", "translation", "scale")}
    arrays.update(occ=src.arrays["occ"], occ_rejected=pack_occ(~occ),
                  layout_mask=np.zeros((len(occ), 3), np.float32))
    if out is None:
        from trainer.data.arrays import ArrayDataset
        return ArrayDataset(arrays, 16, 32, "toy-pairs")
    write_shards(out, arrays, {"kind": "pairs", "grid": 16, "image_size": 32}, 64)
    return out


@pytest.mark.slow
def test_a_few_steps_on_a_separable_preference_raise_accuracy(tmp_path, tiny_ckpt, tiny_cache):
    pairs = pair_dataset(tiny_cache, tmp_path / "pairs")
    cfg = DPOConfig(config="tiny", init=str(tiny_ckpt), out=str(tmp_path / "run"), data=[str(pairs)],
                    eval_data=str(pairs), steps=12, batch_size=8, lr=1e-3, warmup=1, beta=50.0,
                    log_every=4, ckpt_every=12, progress=False)
    dpo.train(cfg)
    _, manifest = load_checkpoint(tmp_path / "run")
    m = manifest["metrics"]
    assert m["eval_rewards/accuracies"] > 0.5 and m["eval_rewards/margins"] > 0
    assert manifest["ref_hash"] == load_checkpoint(tiny_ckpt)[1]["hash"] and manifest["beta"] == 50.0


def test_resume_continues_bit_for_bit(tmp_path, tiny_ckpt, tiny_cache):
    pairs = pair_dataset(tiny_cache, tmp_path / "pairs")
    assert_resume_is_exact(dpo.train, lambda out: DPOConfig(
        config="tiny", init=str(tiny_ckpt), out=str(out), data=[str(pairs)], steps=4, batch_size=8, lr=1e-3,
        warmup=1, beta=50.0, sft_weight=0.1, log_every=2, ckpt_every=2, keep_last=5, progress=False), tmp_path)


def test_dpo_without_init_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="needs --init"):
        dpo.train(DPOConfig(out=str(tmp_path)))
