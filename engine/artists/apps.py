from django.apps import AppConfig


class ArtistsConfig(AppConfig):
    name = "engine.artists"
    label = "artists"
    verbose_name = "Stage 2.5 artist queue"
