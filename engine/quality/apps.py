from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "engine.quality"
    label = "quality"
    verbose_name = "Quality control: gold tasks, agreement and review of fast submits"
