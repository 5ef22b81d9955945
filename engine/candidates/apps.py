from django.apps import AppConfig


class CandidatesConfig(AppConfig):
    name = "engine.candidates"
    label = "candidates"
    verbose_name = "Candidate sets and generation"

    def ready(self):
        from engine.candidates.generation import generator_names
        from engine.candidates.tasks import generate_for_selected
        from engine.core.generators import provide_generator_names
        from engine.intake.signals import objects_selected

        provide_generator_names(generator_names)
        objects_selected.connect(generate_for_selected, dispatch_uid="engine.candidates.generate_for_selected")
