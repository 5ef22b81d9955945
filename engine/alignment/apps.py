from django.apps import AppConfig


class AlignmentConfig(AppConfig):
    name = "engine.alignment"
    label = "alignment"
    verbose_name = "Stage 3 pose alignment"

    def ready(self):
        from engine.alignment.stage import ALIGN
        from engine.leases import registry

        registry.register(ALIGN)
