from django.apps import AppConfig


class FlywheelConfig(AppConfig):
    name = "engine.flywheel"
    label = "flywheel"
    verbose_name = "Training data, exports and checkpoints"

    def ready(self):
        from engine.candidates.generation import provide_deployed_checkpoints
        from engine.flywheel.deploy import deployed_checkpoints

        provide_deployed_checkpoints(deployed_checkpoints)
