from django.apps import AppConfig


class LeasesConfig(AppConfig):
    name = "engine.leases"
    label = "leases"
    verbose_name = "Task assignment with leases"
