"""The benchmark runs end to end on a tiny configuration and prints every figure the issue asks for."""

import json

import pytest


def test_the_bench_prints_every_figure(tmp_path, capsys):
    pytest.importorskip("trainer.model")
    from model_suite import bench

    bench.main(["--work", str(tmp_path / "bench"), "--count", "6", "--repeats", "1", "--no-refine",
                "--untrained-flow", "tiny", "--best-of", "3", "--flow-steps", "2"])
    out = json.loads(capsys.readouterr().out)
    assert out["library_import"]["files_per_second"] > 0 and out["library_import"]["accepted"] == 10
    status = {row["name"]: row for row in out["suite"]}
    assert not status["external"]["ok"] and "external_url" in status["external"]["reason"]  # skipped, with why
    warm = out["candidate_set_warm"]
    assert warm["n"] == 8 and warm["goal_seconds"] == 10 and warm["median_seconds"] > 0
    assert set(warm["per_generator"]) == {"text_retrieval", "silhouette_retrieval", "geometric_lifting", "flow_model"}
    assert len(out["glb"]["per_candidate"]) == 8 and 0 < out["glb"]["at_10k_triangles_bytes"] <= out["glb"]["goal_bytes"]
    best = out["best_of_n"]
    assert (best["M"], best["k"], best["ranked_by"]) == (3, 2, "mask_iou") and best["gain_over_pool_mean"] >= 0
