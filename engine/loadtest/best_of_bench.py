"""Which best-of-N ranking keeps the candidates nearest the truth: our model against retrieval, as Stage 2 judges them.

On render-paste composites of new procedural shapes (engine/simulation, seeded apart from the
demo's), our model samples M shapes per object; each ranking keeps k of them: seed order (no
amplification), the silhouette agreement (mask IoU of the posed mesh), the fit to the library's
shapes of the object's category (model_suite.category_fit), the DPO implicit reward when the
checkpoint is a DPO one, and the oracle (the true distance, an upper bound); the truth itself,
voxelized at the model's grid and meshed as its samples are, gives the representation's floor; and the
consensus of the M samples (trainer.evaluate.consensus: the voxels most samples occupy, as many as their
mean volume, the rule of the trainer's mean-shape floors), one point estimate meshed as the samples are,
asks whether the model's best guess is nearer the truth than the samples a ranking keeps. Every kept candidate
is scored by the simulated annotators' distance to the hidden true shape (engine.simulation.judging:
Chamfer in the unit cube, the best turn about the up axis), beside text retrieval's k candidates for
the same object.
"""

from __future__ import annotations

import numpy as np

from engine.simulation import judging
from engine.simulation.composites import load_photos, procedural_shapes, render
from model_suite.base import GenerationContext
from model_suite.category_fit import category_fit, category_references
from model_suite.flow_model import FlowModelGenerator
from model_suite.library import Library
from model_suite.procedural import CATEGORIES
from model_suite.raycast import mask_iou
from model_suite.text_retrieval import TextRetrievalGenerator

SIZE = 320
RANKINGS = ("seed_order", "mask_iou", "category_fit", "oracle")


def mean_se(values):
    """Return {"mean", "se"} of a list (se: the standard error of the mean)."""
    x = np.asarray(values, float)
    se = round(float(x.std(ddof=1) / np.sqrt(len(x))), 4) if len(x) > 1 else None
    return {"mean": round(float(x.mean()), 4), "se": se}


def score_objects(checkpoint, library_dir, n, best_of, seed, keep=3, progress=None):
    """Return one row per composite: each of our model's samples (true distance, mask IoU, category fit) and
    retrieval's true distances."""
    library = Library(library_dir)
    model = FlowModelGenerator(checkpoint)  # seed order: every sample comes back, ranked below
    retrieval = TextRetrievalGenerator(library_dir)
    photos = list(load_photos().values())
    shapes = procedural_shapes(n, seed, list(CATEGORIES))
    rows = []
    for i in range(n):
        shape = shapes[i % len(shapes)]
        try:
            composite = render(shape, photos, np.random.default_rng([seed, i]), SIZE)
        except ValueError:  # a shape that will not fit the frame is left out, as in seeding
            composite = None
        if progress:
            progress(i)
        if composite is None:
            continue
        truth = judging.surface_points(shape.vertices, shape.faces, seed=1)
        intrinsics = dict(composite.intrinsics, width=SIZE, height=SIZE)
        context = GenerationContext(category=shape.category, intrinsics=intrinsics)
        references = category_references(library, shape.category)
        samples = []
        candidates = model.generate(composite.image, composite.mask, context, best_of, seed + i)
        drawn = redraw(model, composite, best_of, seed + i, shape.category)  # the same samples, as occupancies
        rewards = dpo_rewards(model, composite, drawn, seed + i, shape.category)
        for c in candidates:
            samples.append({"distance": judging.shape_distance(judging.surface_points(c.vertices, c.faces), truth),
                            "mask_iou": mask_iou((c.vertices, c.faces), c.pose, intrinsics, composite.mask),
                            "category_fit": category_fit(c.vertices, c.faces, references),
                            "implicit_reward": None if rewards is None else rewards[c.extra["sample_index"]]})
        retrieved = [judging.shape_distance(judging.surface_points(c.vertices, c.faces), truth)
                     for c in retrieval.generate(composite.image, composite.mask, context, keep, seed + i)]
        rows.append({"category": shape.category, "samples": samples, "retrieval": retrieved,
                     "voxelized_truth": voxelized_distance(shape, policy_grid(model), truth),
                     "consensus": consensus_distance(model, drawn, truth)})
    return rows


def policy_grid(model):
    """The occupancy grid side of the generator's checkpoint."""
    return model.model()[0].cfg.grid


def voxelized_distance(shape, grid, truth):
    """The distance to the truth of the truth itself voxelized at the model's grid and meshed as its samples are:
    how near a perfect sample could come."""
    import trimesh

    from model_suite.flow_model import occupancy_to_mesh
    from model_suite.meshproc import prepare_candidate
    from trainer.data.render import voxelize

    mesh = occupancy_to_mesh(voxelize(trimesh.Trimesh(shape.vertices, shape.faces), grid).astype(np.float32))
    if mesh is None:
        return None
    vertices, faces = prepare_candidate(mesh.vertices, mesh.faces)
    return judging.shape_distance(judging.surface_points(vertices, faces), truth)


def redraw(model, composite, m, seed, category):
    """The generator's m samples of one object (the same seeds it sampled, drawn again) with their occupancies and
    latents, which its candidates do not carry: the consensus and the DPO implicit reward read them."""
    from trainer.sampling import sample

    return sample(model.model()[0], composite.image, composite.mask, m, seed, steps=model.steps, mode=model.mode,
                  category=category)


def consensus_distance(model, results, truth):
    """The distance to the truth of the consensus of the generator's samples `results` (`redraw`), meshed as its
    samples are; None when the consensus is empty."""
    from model_suite.flow_model import occupancy_to_mesh
    from model_suite.meshproc import prepare_candidate
    from trainer.evaluate import consensus

    policy, _ = model.model()
    threshold = getattr(getattr(policy, "sample_config", None), "threshold", 0.5)
    mesh = occupancy_to_mesh(consensus(np.stack([r.occupancy for r in results]), threshold), threshold)
    if mesh is None:
        return None
    vertices, faces = prepare_candidate(mesh.vertices, mesh.faces)
    return judging.shape_distance(judging.surface_points(vertices, faces), truth)


def dpo_rewards(model, composite, results, seed, category=None):
    """The DPO implicit reward of each of the generator's samples `results` (`redraw`), or None when the
    checkpoint is not a DPO one."""
    policy, manifest = model.model()
    if "ref" not in manifest:
        return None
    from trainer.rewards import implicit_reward, reward_beta, reward_settings

    reference, _ = FlowModelGenerator(manifest["ref"]).model()
    return [float(x) for x in implicit_reward(policy, reference, composite.image, composite.mask, results,
                                              reward_beta(manifest), seed=seed, category=category,
                                              **reward_settings(manifest))]


def kept(samples, ranking, k):
    """The k samples a ranking keeps."""
    keys = {"seed_order": None, "mask_iou": lambda s: -s["mask_iou"], "oracle": lambda s: s["distance"],
            "category_fit": lambda s: -s["category_fit"] if s["category_fit"] is not None else np.inf,
            "implicit_reward": lambda s: -s["implicit_reward"]}
    key = keys[ranking]
    return (samples if key is None else sorted(samples, key=key))[:k]


def summarize(rows, k):
    """Per ranking: the kept candidates' mean true distance and their best, paired against seed order, and how
    often the best kept one is nearer the truth than retrieval's best (what Stage 2's winner needs)."""
    rows = [r for r in rows if r["samples"] and r["retrieval"]]
    if not rows:
        return {"objects": 0, "rankings": {}, "note": "no object had both our model's samples and retrieval's"}
    out = {}
    base = [np.mean([s["distance"] for s in kept(r["samples"], "seed_order", k)]) for r in rows]
    dpo = all(s["implicit_reward"] is not None for r in rows for s in r["samples"])
    for ranking in RANKINGS + (("implicit_reward",) if dpo else ()):
        means = [np.mean([s["distance"] for s in kept(r["samples"], ranking, k)]) for r in rows]
        bests = [min(s["distance"] for s in kept(r["samples"], ranking, k)) for r in rows]
        out[ranking] = {"kept_distance": mean_se(means), "best_kept_distance": mean_se(bests),
                        "kept_distance_minus_seed_order": mean_se(np.subtract(means, base)),
                        "beats_retrievals_best": mean_se([b < min(r["retrieval"]) for b, r in zip(bests, rows)]),
                        "beats_retrievals_mean": mean_se([m < np.mean(r["retrieval"]) for m, r in zip(means, rows)])}
    unfit = sum(1 for r in rows if all(s["category_fit"] is None for s in r["samples"]))
    if unfit:  # no library shape of the object's category: the fit keeps seed order there, and says so
        out["category_fit"]["objects_without_library_category"] = unfit
        out["category_fit"]["note"] = (f"{unfit} of {len(rows)} objects have no library shape of their category; "
                                       "the fit keeps their samples in seed order")
    grid = [r["voxelized_truth"] for r in rows if r.get("voxelized_truth") is not None]
    if grid:  # what a sampler that drew the truth itself would score: the representation's floor
        out["voxelized_truth"] = {"kept_distance": mean_se(grid)}
    agreed = [r for r in rows if r.get("consensus") is not None]
    if agreed:  # one shape against the k a ranking keeps: nearer than their mean, than their best, than retrieval's?
        fit = [kept(r["samples"], "category_fit", k) for r in agreed]
        out["consensus"] = {
            "distance": mean_se([r["consensus"] for r in agreed]), "objects": len(agreed),
            "minus_category_fit_kept": mean_se([r["consensus"] - np.mean([s["distance"] for s in f])
                                                for r, f in zip(agreed, fit)]),
            "beats_category_fits_best_kept": mean_se([r["consensus"] < min(s["distance"] for s in f)
                                                      for r, f in zip(agreed, fit)]),
            "beats_retrievals_best": mean_se([r["consensus"] < min(r["retrieval"]) for r in agreed]),
            "beats_retrievals_mean": mean_se([r["consensus"] < np.mean(r["retrieval"]) for r in agreed])}
    out["text_retrieval"] = {"kept_distance": mean_se([np.mean(r["retrieval"]) for r in rows]),
                             "best_kept_distance": mean_se([min(r["retrieval"]) for r in rows])}
    return {"objects": len(rows), "rankings": out}
