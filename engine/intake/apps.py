from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "engine.intake"
    label = "intake"
    verbose_name = "Images and Stage 1 object selection"

    def ready(self):
        from engine.intake.stage import SELECT
        from engine.leases import registry

        registry.register(SELECT)
        from engine.intake import point_maps

        point_maps.register_configured()  # MODEL_SUITE["depth_model"], if set; its weights load on first use
