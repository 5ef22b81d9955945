from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "engine.core"
    label = "core"
    verbose_name = "Projects, iterations and roles"

    def ready(self):
        from engine.core import checks  # noqa: F401 (registers the system checks)
        from engine.core.roles import create_groups

        # Every engine app's signal, not only core's: see create_groups.
        post_migrate.connect(create_groups, dispatch_uid="engine.core.roles.create_groups")
