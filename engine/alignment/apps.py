from django.apps import AppConfig


class AlignmentConfig(AppConfig):
    name = "engine.alignment"
    label = "alignment"
    verbose_name = "Stage 3 pose alignment"
