from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("alignment", "0003_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="alignment",
            name="initial_pose",
            field=models.JSONField(blank=True, help_text='The pose the page starts from, fitted when the task opened (engine/alignment/fitting.py): {"R": 3x3, "t": [3], "s", "source", "iou", "seconds"}; null until fitted.', null=True),
        ),
    ]
