from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "engine.records"
    label = "records"
    verbose_name = "Training records: the samples and preference pairs the stages write"
