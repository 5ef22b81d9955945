from django.apps import AppConfig


class RankingConfig(AppConfig):
    name = "engine.ranking"
    label = "ranking"
    verbose_name = "Stage 2 pairwise ranking"

    def ready(self):
        from engine.leases import registry
        from engine.ranking.stage import RANK

        registry.register(RANK)
