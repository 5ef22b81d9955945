from django.apps import AppConfig


class AlignmentConfig(AppConfig):
    name = "engine.alignment"
    label = "alignment"
    verbose_name = "Stage 3 pose alignment"

    def ready(self):
        from engine.alignment.review import ALIGN_QUALITY
        from engine.alignment.services import open_for_artist_mesh
        from engine.alignment.stage import ALIGN
        from engine.artists.signals import mesh_submitted
        from engine.leases import registry
        from engine.quality import registry as quality

        registry.register(ALIGN)
        quality.register(ALIGN_QUALITY)
        mesh_submitted.connect(open_for_artist_mesh, dispatch_uid="engine.alignment.open_for_artist_mesh")
