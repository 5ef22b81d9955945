"""ModelCheckpoint.project: deployment is scoped per project (engine/flywheel/deploy.py).

Existing checkpoints take the project of their iteration, else the project named by their
first deployment event (a base model π_0 has no iteration); the rest stay shared.
"""

import django.db.models.deletion
from django.db import migrations, models


def assign_projects(apps, schema_editor):
    checkpoints = apps.get_model("flywheel", "ModelCheckpoint")
    events = apps.get_model("flywheel", "DeploymentEvent")
    for checkpoint in checkpoints.objects.filter(project__isnull=True).select_related("iteration"):
        project_id = checkpoint.iteration.project_id if checkpoint.iteration else (
            events.objects.filter(checkpoint=checkpoint, project__isnull=False).order_by("id")
            .values_list("project_id", flat=True).first())
        if project_id:
            checkpoints.objects.filter(pk=checkpoint.pk).update(project_id=project_id)


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0007_promote_min_preference_help'),
        ('flywheel', '0003_records_move_to_records_app'),
    ]

    operations = [
        migrations.AddField(
            model_name='modelcheckpoint',
            name='project',
            field=models.ForeignKey(blank=True, help_text="The project whose flywheel deploys, retires and trains from it; empty: shared, in every project's suite.", null=True, on_delete=django.db.models.deletion.CASCADE, related_name='checkpoints', to='core.project'),
        ),
        migrations.RunPython(assign_projects, migrations.RunPython.noop),
    ]
