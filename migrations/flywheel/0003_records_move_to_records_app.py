"""TrainingSample and PreferencePair move to the records app (migrations/records/0001_initial.py).

Only Django's model state changes here: the tables, their rows and their constraints stay where they are.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('flywheel', '0002_flywheel_runs'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='PreferencePair'),
                migrations.DeleteModel(name='TrainingSample'),
            ],
            database_operations=[],
        ),
    ]
