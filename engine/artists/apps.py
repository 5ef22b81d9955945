from django.apps import AppConfig


class ArtistsConfig(AppConfig):
    name = "engine.artists"
    label = "artists"
    verbose_name = "Stage 2.5 artist queue"

    def ready(self):
        from engine.artists.stage import ARTIST_STAGE
        from engine.leases import registry

        registry.register(ARTIST_STAGE)
