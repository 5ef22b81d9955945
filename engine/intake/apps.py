from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "engine.intake"
    label = "intake"
    verbose_name = "Images and Stage 1 object selection"
