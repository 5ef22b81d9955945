"""TrainingSample and PreferencePair, moved here from the flywheel app with their tables, rows and constraints.

The models are created in Django's state only, on the tables flywheel made (Meta.db_table); flywheel's
0003 removed them from its state. Their content types move with them, so permissions and admin history
granted on them stay attached.
"""

import django.db.models.deletion
from django.db import migrations, models

MOVED = ("trainingsample", "preferencepair")


def move_content_types(apps, schema_editor, source="flywheel", target="records"):
    """Relabel the moved models' content types (a fresh database has none yet: post_migrate makes them)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.using(schema_editor.connection.alias).filter(
        app_label=source, model__in=MOVED).update(app_label=target)


def move_content_types_back(apps, schema_editor):
    move_content_types(apps, schema_editor, source="records", target="flywheel")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('alignment', '0004_alignment_initial_pose'),
        ('artists', '0004_failure_triage'),
        ('candidates', '0002_initial'),
        ('core', '0005_project_quality_and_artist_routing'),
        ('flywheel', '0003_records_move_to_records_app'),
        ('intake', '0002_imported_proposals_and_depth_source'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='TrainingSample',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('mesh', models.CharField(help_text='Storage name of the mesh file.', max_length=500)),
                        ('source', models.CharField(choices=[('model', 'Model'), ('retrieval', 'Retrieval'), ('lifting', 'Lifting'), ('external', 'External'), ('artist', 'Artist')], max_length=12)),
                        ('generator', models.CharField(max_length=64)),
                        ('rotation', models.JSONField(help_text='Unit quaternion [w, x, y, z].')),
                        ('translation', models.JSONField()),
                        ('scale', models.FloatField()),
                        ('rating', models.FloatField()),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('alignment', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='sample', to='alignment.alignment')),
                        ('checkpoint', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to='flywheel.modelcheckpoint')),
                        ('iteration', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='samples', to='core.iteration')),
                        ('object', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='samples', to='intake.objectinstance')),
                    ],
                    options={
                        'db_table': 'flywheel_trainingsample',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='PreferencePair',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('chosen_source', models.CharField(choices=[('model', 'Model'), ('retrieval', 'Retrieval'), ('lifting', 'Lifting'), ('external', 'External'), ('artist', 'Artist')], max_length=12)),
                        ('rejected_source', models.CharField(choices=[('model', 'Model'), ('retrieval', 'Retrieval'), ('lifting', 'Lifting'), ('external', 'External'), ('artist', 'Artist')], max_length=12)),
                        ('chosen_generator', models.CharField(max_length=64)),
                        ('rejected_generator', models.CharField(max_length=64)),
                        ('rating', models.FloatField(help_text='Rating of the chosen side (1.0 for an artist mesh).')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('chosen_artist_mesh', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='artists.artistmesh')),
                        ('chosen_candidate', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='candidates.candidate')),
                        ('iteration', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='pairs', to='core.iteration')),
                        ('object', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='pairs', to='intake.objectinstance')),
                        ('rejected', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='candidates.candidate')),
                    ],
                    options={
                        'db_table': 'flywheel_preferencepair',
                        'ordering': ['id'],
                        'constraints': [models.UniqueConstraint(fields=('object', 'iteration', 'rejected'), name='pair_unique_rejected')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
