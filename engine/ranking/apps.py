from django.apps import AppConfig


class RankingConfig(AppConfig):
    name = "engine.ranking"
    label = "ranking"
    verbose_name = "Stage 2 pairwise ranking"
