"""What the image encoder knows: a linear probe of the object's category from its pooled image features.

    python -m trainer.probe --train TRAIN_CACHE --eval HELDOUT_CACHE --encoder effnet   # the frozen backbone alone
    python -m trainer.probe --train TRAIN_CACHE --eval HELDOUT_CACHE --ckpt RUN          # a trained model's tokens

The flow model can only be as good as what its condition tells it. On the procedural vocabulary the
per-category mean shape is the floor of the bench's table, so the first thing the image has to give
the model is the category. This measures whether it does, apart from the flow model: each row's
features are pooled (the mean over the crop view's tokens and the mean weighted by the crop mask,
and the same of the full view for a checkpoint's tokens), a multinomial logistic regression with an
L2 penalty is fitted on the training cache's rows (standardised features; full-batch L-BFGS, so the
fit is deterministic), and its accuracy on the held-out rows is the figure, with its binomial SE
and the chance level (the commonest training category's share of the held-out rows).

A probe is a lower bound on what the features hold (a linear read-out of pooled tokens; the flow
model attends to every token), and an upper bound on what a model could read off them with as
little training as the probe's. Categories come from the caches' shape names (`shape_category`),
so the caches must name their shapes (the bench's do).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data.cache import load_cache, shape_names
from .references import row_categories


def pooled(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, hw, C) tokens of one view and its (B, 1, S, S) mask -> (B, 2C): the mean and the mask-weighted mean."""
    side = int(round(tokens.shape[1] ** 0.5))
    w = F.adaptive_avg_pool2d(mask.float(), side).flatten(1)                      # (B, hw): the mask's share per token
    inside = (tokens * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp_min(1e-6)
    return torch.cat([tokens.mean(1), inside], 1)


def features(dataset, n: int, ckpt: str = "", encoder: str = "effnet", batch: int = 64, desc: str = "features",
             progress: bool = True, model=None) -> np.ndarray:
    """(n, F) pooled features of the first n rows: a checkpoint's condition tokens (`model`, the checkpoint
    loaded, when the caller has it), or the frozen backbone's."""
    if ckpt:
        if model is None:
            from .checkpoints import load_checkpoint
            model = load_checkpoint(ckpt)[0]
        model.eval()
        if model.cfg.image_size != dataset.image_size:
            raise ValueError(f"{ckpt} sees {model.cfg.image_size} px views and the cache holds {dataset.image_size} px "
                             "ones: probe a cache prepared at the checkpoint's sizes")
    elif encoder == "effnet":
        from .effnet import EffNetEncoder
        backbone = EffNetEncoder(8, dataset.image_size).eval()
    else:
        raise ValueError(f"probe needs --ckpt, or --encoder effnet (a frozen encoder); got encoder {encoder!r}")
    out = []
    with torch.no_grad():
        for i in tqdm(range(0, n, batch), desc=desc, unit="batch", disable=not progress):
            views = dataset.batch(list(range(i, min(n, i + batch))))["views"].float()
            views = views / 255.0 if views.max() > 1.5 else views
            masks = [views[:, v, 3:4] for v in range(views.shape[1])]
            if ckpt:
                tok = model.encode_condition(views)                               # (B, V * hw, D)
                if model.cfg.category_condition:      # the category's token ('unknown' here) is no view's
                    tok = tok[:, :-1]
                per_view = tok.reshape(tok.shape[0], views.shape[1], -1, tok.shape[-1])
                out.append(torch.cat([pooled(per_view[:, v], masks[v]) for v in range(views.shape[1])], 1))
            else:
                out.append(pooled(backbone.features(views[:, 0, :3]).float(), masks[0]))
    return torch.cat(out).numpy().astype(np.float64)


def head_accuracy(model, dataset, categories: list[str], n: int, batch: int = 64) -> dict | None:
    """A checkpoint's own category head (`--category-loss`) on the first n rows: accuracy over the rows whose
    category is in its vocabulary, with its SE; None when the model has no head (or is given the category)."""
    from .data.views import views_to_tensor
    model.eval()
    if not model.cfg.categories or model.cfg.category_condition:   # a model given the category trains no head
        return None
    index = {c: i for i, c in enumerate(model.cfg.categories)}
    rows = [i for i in range(n) if categories[i] in index]
    hits = []
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            part = rows[i:i + batch]
            views = views_to_tensor(dataset.batch(part)["views"])
            pred = model.category_logits(model.encode_condition(views)).argmax(1).tolist()
            hits += [p == index[categories[r]] for p, r in zip(pred, part)]
    acc = float(np.mean(hits)) if hits else float("nan")
    return {"accuracy": acc, "accuracy_se": math.sqrt(acc * (1 - acc) / len(hits)) if hits else float("nan"),
            "rows": len(hits)}


def fit(x: np.ndarray, y: np.ndarray, classes: int, l2: float, iters: int = 200) -> torch.Tensor:
    """Weights (F + 1, classes) of a multinomial logistic regression, L2 penalty l2 on the weights, by L-BFGS."""
    xt = torch.from_numpy(np.concatenate([x, np.ones((len(x), 1))], 1))
    yt = torch.from_numpy(y).long()
    w = torch.zeros(xt.shape[1], classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1.0, max_iter=iters, history_size=20, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = F.cross_entropy(xt @ w, yt) + l2 * (w[:-1] ** 2).sum()
        value.backward()
        return value

    opt.step(loss)
    return w.detach()


def predict(w: torch.Tensor, x: np.ndarray) -> np.ndarray:
    xt = torch.from_numpy(np.concatenate([x, np.ones((len(x), 1))], 1))
    return (xt @ w).argmax(1).numpy()


def category_probe(train, eval_set, train_cats: list[str], eval_cats: list[str], n_train: int = 0, n_eval: int = 0,
                   ckpt: str = "", encoder: str = "effnet", l2: float = 0.01, progress: bool = True) -> dict:
    """The probe's report: accuracy on the held-out rows (with SE and chance), train accuracy, confusions."""
    n_train = min(n_train or len(train), len(train))
    n_eval = min(n_eval or len(eval_set), len(eval_set))
    names = sorted(set(train_cats[:n_train]))
    unknown = sorted(set(eval_cats[:n_eval]) - set(names))
    if unknown:
        raise ValueError(f"the held-out rows show categories no training row has ({', '.join(unknown)}): "
                         "a category probe needs them in training")
    index = {c: i for i, c in enumerate(names)}
    y_train = np.array([index[c] for c in train_cats[:n_train]])
    y_eval = np.array([index[c] for c in eval_cats[:n_eval]])
    model = None
    if ckpt:                                    # loaded once for both feature passes and the head
        from .checkpoints import load_checkpoint
        model = load_checkpoint(ckpt)[0]
    x_train = features(train, n_train, ckpt, encoder, desc="probe: training rows", progress=progress, model=model)
    x_eval = features(eval_set, n_eval, ckpt, encoder, desc="probe: held-out rows", progress=progress, model=model)
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    w = fit((x_train - mu) / sd, y_train, len(names), l2)
    pred = predict(w, (x_eval - mu) / sd)
    acc = float((pred == y_eval).mean())
    confusions = Counter((names[a], names[b]) for a, b in zip(y_eval, pred) if a != b)
    commonest = Counter(y_train.tolist()).most_common(1)[0][0]
    head = head_accuracy(model, eval_set, eval_cats, n_eval) if model is not None else None
    return {**({"category_head": head} if head else {}),"features": f"checkpoint {ckpt}" if ckpt else f"frozen {encoder} backbone (crop view)",
            "train_rows": n_train, "eval_rows": n_eval, "categories": len(names), "l2": l2,
            "accuracy": acc, "accuracy_se": math.sqrt(acc * (1 - acc) / n_eval),
            "chance": float((y_eval == commonest).mean()),
            "train_accuracy": float((predict(w, (x_train - mu) / sd) == y_train).mean()),
            "top_confusions": [{"truth": a, "predicted": b, "rows": k} for (a, b), k in confusions.most_common(5)]}


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The probe's flags (shared by `python -m trainer.probe` and `python -m trainer probe`)."""
    p.add_argument("--train", required=True, help="a data cache whose rows train the probe (the bench's sft cache)")
    p.add_argument("--eval", required=True, help="a held-out cache of the same categories (novel instances)")
    p.add_argument("--ckpt", default="", help="probe this checkpoint's condition tokens (default: the frozen backbone)")
    p.add_argument("--encoder", default="effnet", choices=("effnet",), help="the frozen backbone to probe without --ckpt")
    p.add_argument("--n-train", type=int, default=0, help="training rows (0 = all)")
    p.add_argument("--n-eval", type=int, default=0, help="held-out rows (0 = all)")
    p.add_argument("--l2", type=float, default=0.01,
                   help="L2 penalty on the probe's weights, per mean cross-entropy (default 0.01; the held-out "
                        "accuracy moved by under one SE across 0.002-0.08 in the measurement of trainer/README.md)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    return p


def main(argv=None, args: argparse.Namespace | None = None) -> dict:
    """Run the probe from argv (or parsed args); print and return its report; exit 2 with a message on bad input."""
    if args is None:
        args = add_arguments(argparse.ArgumentParser(prog="python -m trainer.probe",
                                                     description=__doc__.split("\n\n")[0])).parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        caches = {}
        for key in ("train", "eval"):
            folder = getattr(args, key)
            ds = load_cache(folder)                    # raises, with the reason, on a folder that is no cache
            names = shape_names(folder)
            if names is None:
                raise ValueError(f"--{key} {folder}: the cache names no shapes, so its rows have no categories")
            caches[key] = (ds, row_categories(ds, names))
        report = category_probe(caches["train"][0], caches["eval"][0], caches["train"][1], caches["eval"][1],
                                args.n_train, args.n_eval, args.ckpt, args.encoder, args.l2)
    except (ValueError, FileNotFoundError) as e:
        print(f"probe: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
