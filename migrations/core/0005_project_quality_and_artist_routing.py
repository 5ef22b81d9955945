import django.core.validators
from django.db import migrations, models


def _range(lo, hi=None):
    validators = [django.core.validators.MinValueValidator(lo)]
    if hi is not None:
        validators.append(django.core.validators.MaxValueValidator(hi))
    return validators


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0004_project_curriculum"),
    ]

    operations = [
        migrations.AddField(
            model_name="project", name="gold_rate",
            field=models.FloatField(default=0.0, validators=_range(0.0, 0.5), help_text=(
                "Share of the Stage 2 and Stage 3 tasks served that are gold copies with a known answer (0: none). "
                "Gold answers come from `manage.py gold` or an engineer marking a task as gold.")),
        ),
        migrations.AddField(
            model_name="project", name="overlap_rate",
            field=models.FloatField(default=0.0, validators=_range(0.0, 1.0), help_text=(
                "Share of candidate sets ranked by two annotators (when ranking_overlap is 1), for agreement.")),
        ),
        migrations.AddField(
            model_name="project", name="review_min_compare_seconds",
            field=models.FloatField(default=0.3, validators=_range(0.0), help_text=(
                "A Stage 2 answer given faster than this after the previous one is too fast for a person; a ranking "
                "with half of its answers that fast is held for review (0: no check).")),
        ),
        migrations.AddField(
            model_name="project", name="review_min_align_seconds",
            field=models.FloatField(default=2.0, validators=_range(0.0), help_text=(
                "A Stage 3 pose submitted sooner than this after the claim, or unchanged from the pose served, is "
                "flagged for review and kept out of exports until an engineer accepts it.")),
        ),
        migrations.AddField(
            model_name="project", name="artist_share",
            field=models.FloatField(default=1.0, validators=_range(0.0, 1.0), help_text=(
                "Share of the Stage 2 failures sent to artists at most (1: all). The rest stay failed, for the "
                "flywheel to re-offer, or linked to a look-alike an artist has.")),
        ),
        migrations.AddField(
            model_name="project", name="artist_cluster_distance",
            field=models.FloatField(default=0.0, validators=_range(0.0, 2.0), help_text=(
                "Failures closer than this (image, shape and description features, a cosine distance in [0, 2]) "
                "form one cluster, whose representatives alone go to artists (0: no clustering).")),
        ),
        migrations.AddField(
            model_name="project", name="artist_representatives",
            field=models.PositiveSmallIntegerField(default=1, validators=_range(1, 10), help_text=(
                "Failures of one cluster that go to artists; the rest are linked to the first.")),
        ),
        migrations.AddField(
            model_name="project", name="artist_mesh_serves_cluster",
            field=models.BooleanField(default=False, help_text=(
                "An artist's mesh for a representative also goes to Stage 3 for the linked look-alikes.")),
        ),
    ]
