from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "engine.core"
    label = "core"
    verbose_name = "Projects, iterations and roles"

    def ready(self):
        from engine.core import checks  # noqa: F401 (registers the system checks)
