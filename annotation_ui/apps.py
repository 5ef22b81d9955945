from django.apps import AppConfig


class AnnotationUiConfig(AppConfig):
    name = "annotation_ui"
    verbose_name = "Annotation UI"

    def ready(self):
        from annotation_ui import checks  # noqa: F401  (registers the system checks)
