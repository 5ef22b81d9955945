from django.apps import AppConfig


class CandidatesConfig(AppConfig):
    name = "engine.candidates"
    label = "candidates"
    verbose_name = "Candidate sets and generation"
