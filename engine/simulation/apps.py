from django.apps import AppConfig


class SimulationConfig(AppConfig):
    name = "engine.simulation"
    label = "simulation"
    verbose_name = "Simulated annotators and composites with known truth"

    def ready(self):
        from engine.simulation import checks  # noqa: F401 (registers the system checks)
