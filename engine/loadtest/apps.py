from django.apps import AppConfig


class LoadtestConfig(AppConfig):
    """The claim benchmark (manage.py bench_claims): a tool that drives the engine, kept out of its domain apps."""

    name = "engine.loadtest"
    label = "loadtest"
    verbose_name = "Load tests"
