from django.apps import AppConfig


class FlywheelConfig(AppConfig):
    name = "engine.flywheel"
    label = "flywheel"
    verbose_name = "Training data, exports and checkpoints"
