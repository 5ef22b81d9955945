from django.apps import AppConfig


class LeasesConfig(AppConfig):
    name = "engine.leases"
    label = "leases"
    verbose_name = "Task assignment with leases"

    def ready(self):
        from engine.leases import checks  # noqa: F401 (registers the system checks)
