"""GET the ratings of a project's generators and checkpoints as JSON (engineers only)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from engine.core.models import Project
from engine.core.permissions import IsEngineer
from engine.ranking import ratings

MAX_BOOTSTRAP = 2000  # about 2 s of refitting for ten players; more buys little at the 2.5/97.5 percentiles


class RatingsQuery(serializers.Serializer):
    iteration = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_empty=True,
        help_text="Iteration numbers to include (repeat the parameter for several); all when absent.")
    bootstrap = serializers.IntegerField(
        min_value=0, max_value=MAX_BOOTSTRAP, default=ratings.BOOTSTRAP_ROUNDS,
        help_text="Bootstrap resamples for the 95 % intervals; 0 for none.")
    include_simulated = serializers.BooleanField(
        default=True, help_text="Count comparisons made by simulated annotators (the `simulated` group).")
    seed = serializers.IntegerField(min_value=0, default=0, help_text="Seed of the bootstrap resamples.")


class RatingRow(serializers.Serializer):
    name = serializers.CharField(help_text="Generator name, or checkpoint name.")
    rating = serializers.FloatField(help_text="Bradley–Terry rating on the Elo scale (1000 = geometric mean).")
    ci = serializers.ListField(child=serializers.FloatField(), allow_null=True, min_length=2, max_length=2,
                               help_text="2.5 and 97.5 bootstrap percentiles of the rating; null without bootstrap.")
    elo = serializers.FloatField(help_text="Online Elo after every comparison in order.")
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    ties = serializers.IntegerField()
    comparisons = serializers.IntegerField()
    component = serializers.IntegerField(help_text="Linked group (0 the largest); ratings compare within one.")
    kind = serializers.ChoiceField(["checkpoint", "generator"], help_text="In the checkpoint table, `generator` "
                                   "marks a reference player: candidates of a generator without a checkpoint.")


class Ratings(serializers.Serializer):
    project = serializers.IntegerField()
    iterations = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    include_simulated = serializers.BooleanField()
    bootstrap = serializers.IntegerField()
    seed = serializers.IntegerField()
    scale = serializers.DictField(child=serializers.FloatField(), help_text="anchor, points_per_10x_odds, "
                                  "elo_k and bt_prior_ties.")
    generators = RatingRow(many=True)
    checkpoints = RatingRow(many=True)


class RatingsView(APIView):
    """Elo and Bradley–Terry ratings with bootstrap intervals, by generator and by checkpoint."""

    permission_classes = [IsEngineer]

    @extend_schema(parameters=[RatingsQuery], responses=Ratings)
    def get(self, request, pk):
        project = get_object_or_404(Project, pk=pk)
        query = RatingsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        return Response(ratings.project_ratings(project, v.get("iteration") or None, v["include_simulated"],
                                                v["bootstrap"], v["seed"]))
