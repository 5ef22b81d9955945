"""Serializers of flywheel runs: the request that starts one, and its record."""

from rest_framework import serializers

from engine.core import fields as strict
from engine.flywheel.models import FlywheelRun
from engine.flywheel.steps import PRESETS


class RunRequest(serializers.Serializer):
    """What an engineer may set when starting iteration k (everything else comes from the project)."""

    alpha = strict.FloatField(required=False, min_value=0.0, max_value=1.0,
                                   help_text="α_k of this iteration (default: the project's schedule).")
    config = serializers.ChoiceField(PRESETS, required=False, help_text="Trainer preset (default: the deployed one's).")
    sft_steps = serializers.IntegerField(required=False, min_value=1)
    dpo_steps = serializers.IntegerField(required=False, min_value=1)
    dpo_sft_weight = serializers.FloatField(required=False, min_value=0.0,
                                            help_text="DPO's anchor on the chosen shapes (default: 1; 0 is plain DPO).")
    dpo_dpop = strict.FloatField(required=False, min_value=0.0,
                                 help_text="DPO-Positive's lambda: DPO may not make the chosen shapes less likely "
                                           "than the SFT checkpoint does (default: 50; 0 is plain DPO).")
    category_loss = strict.FloatField(required=False, min_value=0.0, default=0.0,
                                      help_text="SFT also trains the deployed checkpoint's category head on the "
                                                "samples' Stage 1 categories, at this weight (default 0: off; "
                                                "needs a checkpoint with a head).")
    replay = serializers.ListField(child=strict.CharField(max_length=4096), required=False, default=list,
                                   max_length=16,
                                   help_text="Training data folders on the server (trainer caches or engine exports, "
                                             "e.g. π_0's mid-training composites) that SFT replays beside the "
                                             "collected samples (default: none; flywheel run --replay).")
    replay_share = strict.FloatField(required=False, default=0.5,
                                     help_text="With replay: the share of each SFT batch drawn from it, between 0 "
                                               "and 1 (default 0.5).")
    simulate = serializers.IntegerField(required=False, min_value=0, default=0,
                                        help_text="Simulated annotators collecting before training (0: none).")
    artist_delay = strict.FloatField(required=False, min_value=0.0, default=0.0,
                                     help_text="Seconds the simulated artist takes per mesh (with simulate).")


class RunSerializer(strict.ModelSerializer):
    project = serializers.CharField(source="project.name")
    iteration = serializers.IntegerField(source="iteration.number")
    next_iteration = serializers.IntegerField(source="next_iteration.number", allow_null=True, default=None)
    baseline = serializers.CharField(source="baseline.name", allow_null=True, default=None)
    sft_checkpoint = serializers.CharField(source="sft_checkpoint.name", allow_null=True, default=None)
    checkpoint = serializers.CharField(source="checkpoint.name", allow_null=True, default=None)

    class Meta:
        model = FlywheelRun
        fields = ["id", "project", "iteration", "next_iteration", "alpha", "status", "step", "options", "job_id",
                  "counts", "acceptance_rate", "generator_yield", "annotation_seconds", "export_dir", "baseline",
                  "sft_checkpoint", "checkpoint", "metrics_before", "metrics_after", "comparison", "decision",
                  "reason", "progress", "step_seconds", "error", "created_at", "finished_at"]
        read_only_fields = fields
