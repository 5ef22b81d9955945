from django.apps import AppConfig


class CandidatesConfig(AppConfig):
    name = "engine.candidates"
    label = "candidates"
    verbose_name = "Candidate sets and generation"

    def ready(self):
        from engine.candidates.generation import generator_names
        from engine.candidates.tasks import generate_for_selected, resume_lost_generation
        from engine.core import background
        from engine.core.generators import provide_generator_names
        from engine.intake.signals import objects_selected

        provide_generator_names(generator_names)
        objects_selected.connect(generate_for_selected, dispatch_uid="engine.candidates.generate_for_selected")
        # Without Redis: a server's start sends again what a stopped one left generating (engine/core/background.py).
        background.on_start(resume_lost_generation)
