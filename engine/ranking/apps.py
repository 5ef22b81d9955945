from django.apps import AppConfig


class RankingConfig(AppConfig):
    name = "engine.ranking"
    label = "ranking"
    verbose_name = "Stage 2 pairwise ranking"

    def ready(self):
        from engine.candidates.signals import set_closed
        from engine.leases import registry
        from engine.quality import registry as quality
        from engine.ranking.review import RANK_QUALITY
        from engine.ranking.services import route_closed_set
        from engine.ranking.stage import RANK

        registry.register(RANK)
        quality.register(RANK_QUALITY)
        set_closed.connect(route_closed_set, dispatch_uid="engine.ranking.route_closed_set")
