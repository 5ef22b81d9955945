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
        # Without Redis: a server's start fits again what a stopped one left unfitted (engine/core/background.py).
        from engine.alignment.tasks import resume_unfitted
        from engine.core import background

        background.on_start(resume_unfitted)
