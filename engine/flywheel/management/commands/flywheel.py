"""`manage.py flywheel {run,resume,rollback,status,demo}`: iteration k of Algorithm 1 from the terminal."""

import json
import threading
from contextlib import ExitStack

from django.core.management.base import BaseCommand, CommandError

from engine.core.models import Project
from engine.flywheel import iteration as flywheel
from engine.flywheel.demo import DemoConfig, DemoError, format_report, run_demo, write_report
from engine.flywheel.deploy import RollbackError
from engine.flywheel.models import FlywheelRun
from engine.simulation.server import serve as simulation_server


class Command(BaseCommand):
    help = ("Run iteration k of the flywheel (collect, aggregate, SFT, DPO, evaluate, promote, redeploy), "
            "resume a run, roll the deployment back, or print the project's flywheel state as JSON.")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="Run iteration k: on the RQ `trainer` queue, or here with --sync or no Redis.")
        run.add_argument("--project", required=True, help="Project name.")
        run.add_argument("--alpha", type=float, help="α_k of this iteration (default: the project's schedule).")
        run.add_argument("--config", choices=flywheel.PRESETS, help="Trainer preset (default: the deployed one's).")
        run.add_argument("--steps", type=int, help="Optimizer steps of SFT and of DPO (each).")
        run.add_argument("--sft-steps", type=int, help="Optimizer steps of SFT (wins over --steps).")
        run.add_argument("--dpo-steps", type=int, help="Optimizer steps of DPO (wins over --steps).")
        run.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="Evaluation seeds (default: 0 1).")
        run.add_argument("--simulate", type=int, default=0, metavar="N",
                         help="Collect with N simulated annotators before training (default: 0, people collect).")
        run.add_argument("--artist-delay", type=float, default=0.0, metavar="SECONDS",
                         help="With --simulate: seconds the simulated artist takes per mesh (default: 0).")
        run.add_argument("--heldout-share", type=float, default=0.2,
                         help="Share of objects whose pairs are held out for preference accuracy (default: 0.2).")
        run.add_argument("--dpo-sft-weight", type=float, default=flywheel.DPO_SFT_WEIGHT,
                         help="DPO's anchor: + this weight x the chosen side's flow error "
                              f"(default: {flywheel.DPO_SFT_WEIGHT:g}; 0 is plain DPO).")
        run.add_argument("--dpo-dpop", type=float, default=flywheel.DPO_DPOP, metavar="LAMBDA",
                         help="DPO-Positive's lambda: DPO may not make the chosen shapes less likely than the SFT "
                              f"checkpoint does (default: {flywheel.DPO_DPOP:g}; 0 is plain DPO; trainer/README.md).")
        run.add_argument("--category-loss", type=float, default=0.0, metavar="W",
                         help="SFT also trains the deployed checkpoint's category head on the samples' Stage 1 "
                              "categories, at weight W (default: 0, off; needs a checkpoint pretrained with "
                              "`trainer pretrain --category-loss`).")
        run.add_argument("--replay", nargs="+", default=[], metavar="DATA",
                         help="Training data of the deployed model (a trainer cache or export, e.g. its mid-training "
                              "composites) that SFT replays beside the collected samples (default: none; "
                              "trainer/README.md, session 29).")
        run.add_argument("--replay-share", type=float, default=0.5,
                         help="With --replay: the share of each SFT batch drawn from it (default: 0.5).")
        run.add_argument("--base", help="A pretrained checkpoint to deploy as the project's π_0 when it has "
                                           "none of its own deployed.")
        run.add_argument("--sync", action="store_true", help="Run here even when Redis is configured.")
        resume = sub.add_parser("resume", help="Run the steps a failed or killed run had not finished.")
        resume.add_argument("--run", type=int, required=True, help="FlywheelRun id.")
        back = sub.add_parser("rollback", help="Retire the project's newest deployed checkpoint; "
                                                  "restore the ones it promoted before.")
        back.add_argument("--project", required=True)
        back.add_argument("--reason", default="", help="Recorded with the rollback.")
        status = sub.add_parser("status", help="Print the project's iteration, deployed checkpoints and runs as JSON.")
        status.add_argument("--project", required=True)
        demo = sub.add_parser("demo", help="Pretrain and mid-train π_0 (or reuse the cached ones), then run "
                                           "simulated iterations and print the cascading-improvements and rating "
                                           "tables.")
        defaults = DemoConfig()
        demo.add_argument("--project", default=defaults.project, help=f"A new project (default: {defaults.project}).")
        demo.add_argument("--config", choices=flywheel.PRESETS, default=defaults.preset,
                          help=f"Trainer preset (default: {defaults.preset}).")
        demo.add_argument("--encoder", choices=("cnn", "attn", "effnet"), default=defaults.encoder,
                          help=f"π_0's image encoder (default: {defaults.encoder}; see trainer/README.md).")
        demo.add_argument("--iterations", type=int, default=defaults.iterations, help="Simulated iterations (default: 2).")
        demo.add_argument("--annotators", type=int, default=defaults.annotators, help="Simulated annotators.")
        demo.add_argument("--cache", default="", help="Folder of π_0 and its data, kept between demos "
                                                      "(default: var/cache/flywheel-demo beside RUNS_ROOT).")
        demo.add_argument("--base", default="", metavar="CKPT",
                          help="π_0 from this trainer checkpoint (a run folder or one step, e.g. a trainer bench's "
                               "runs/midtrain) instead of pretraining and mid-training one; the options of π_0's "
                               "training (--pretrain-*, --midtrain-*, --vae-steps, --encoder, --cond-layers, "
                               "--category-condition, --category-text) then do not apply, the checkpoint's own do.")
        demo.add_argument("--replay", nargs="+", default=[], metavar="DATA",
                          help="Each iteration's SFT replays this training data (e.g. π_0's mid-training composites) "
                               "beside the collected samples (default: none; see flywheel run --replay).")
        demo.add_argument("--replay-share", type=float, default=0.5,
                          help="With --replay: the share of each SFT batch drawn from it (default: 0.5).")
        demo.add_argument("--report", help="Write the report (tables, runs, ratings, wall times) here as JSON.")
        demo.add_argument("--serve", metavar="HOST:PORT",
                          help="Serve the app here from the start, and keep serving after the demo until Ctrl+C.")
        for name in ("pretrain_steps", "vae_steps", "pretrain_n", "midtrain_steps", "collection_target",
                     "n_candidates", "dpo_steps", "ranking_overlap"):
            demo.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name),
                              help=f"(default: {getattr(defaults, name)})")
        demo.add_argument("--sft-steps", type=int, nargs="+", default=defaults.sft_steps, metavar="N",
                          help=f"SFT steps per iteration; the last serves any later iteration (default: "
                               f"{' '.join(map(str, defaults.sft_steps))}: iteration k trains on the winners of "
                               f"iterations 1..k, and more rows need more steps).")
        demo.add_argument("--best-of", type=int, default=defaults.best_of, metavar="M",
                          help=f"Our model samples M shapes per candidate set and proposes the best of them, by their "
                               f"fit to the library's shapes of the object's category (default: {defaults.best_of}; "
                               f"0: no amplification, outside the tail).")
        demo.add_argument("--midtrain-n", type=int, default=defaults.midtrain_n, metavar="N",
                          help=f"Synthetic render-paste composites π_0 is mid-trained on after pretraining, before "
                               f"the loop (default: {defaults.midtrain_n}; 0: none, π_0 is the pretrained model).")
        demo.add_argument("--cond-layers", type=int, default=defaults.cond_layers, metavar="N",
                          help="Self-attention layers over π_0's condition tokens (default: the preset's).")
        demo.add_argument("--category-loss", type=float, default=defaults.category_loss, metavar="W",
                          help="Weight of the category loss in π_0's pretraining and each iteration's SFT (default: "
                               "off; the recipe of trainer/README.md is --cond-layers 2 --category-loss 0.5).")
        demo.add_argument("--category-condition", action="store_true",
                          help="π_0 takes each object's category (the Stage 1 label) as a condition token, and our "
                               "model is given it when it proposes (default: off; trainer/README.md).")
        demo.add_argument("--category-text", action="store_true",
                          help="With --category-condition: the token is a projection of the category name's sentence "
                               "embedding, so a Stage 1 label outside π_0's vocabulary keeps one of its own (default: "
                               "off; trainer/README.md).")
        demo.add_argument("--artist-delay", type=float, default=defaults.artist_delay, metavar="SECONDS",
                          help=f"Seconds the simulated artist takes per mesh (default: {defaults.artist_delay:g}).")
        demo.add_argument("--eval-n", type=int, help="Held-out rows of the table (default: the rows each run's "
                                                     "comparison scored, which the table then reuses).")
        demo.add_argument("--alphas", type=float, nargs="+", default=defaults.alphas,
                          help=f"α_k per iteration, the rising SFT bar (default: {defaults.alphas}).")
        demo.add_argument("--generators", nargs="+", default=defaults.generators,
                          help=f"The demo project's generators (default: {' '.join(defaults.generators)}).")

    def handle(self, *args, action, **options):
        return getattr(self, f"do_{action}")(**options)

    def project(self, name):
        try:
            return Project.objects.get(name=name)
        except Project.DoesNotExist:
            known = ", ".join(Project.objects.order_by("name").values_list("name", flat=True)[:10]) or "none yet"
            raise CommandError(f"No project named {name!r} (projects: {known}).") from None

    def echo(self, line):
        if self.verbosity:
            self.stdout.write(line)
            self.stdout.flush()

    def do_run(self, project, alpha, config, steps, sft_steps, dpo_steps, seeds, simulate, artist_delay,
               heldout_share, base, sync, verbosity, dpo_sft_weight, dpo_dpop, category_loss, replay=(),
               replay_share=0.5, **_):
        self.verbosity = verbosity
        try:
            run = flywheel.create_run(self.project(project), alpha=alpha, preset=config, sft_steps=sft_steps or steps,
                                      dpo_steps=dpo_steps or steps, seeds=seeds, simulate=simulate,
                                      artist_delay=artist_delay, heldout_share=heldout_share, base=base,
                                      dpo_sft_weight=dpo_sft_weight, category_loss=category_loss, replay=replay,
                                      replay_share=replay_share, dpo_dpop=dpo_dpop)
        except flywheel.RunError as exc:
            raise CommandError(str(exc)) from None
        from django.conf import settings

        if settings.REDIS_URL and not sync:
            job = flywheel.enqueue(run)
            self.echo(f"flywheel run {run.pk} queued on RQ `trainer` as job {job}; "
                      f"follow it with: manage.py flywheel status --project {project}")
            return
        self._execute(run.pk)

    def do_resume(self, run, verbosity, **_):
        self.verbosity = verbosity
        if not FlywheelRun.objects.filter(pk=run).exists():
            raise CommandError(f"No flywheel run {run}.")
        self._execute(run)

    def _execute(self, run_id):
        try:
            run = flywheel.execute(run_id, echo=self.echo)
        except Exception as exc:
            raise CommandError(f"flywheel run {run_id} failed at its step: {exc} "
                               f"(fix it, then: manage.py flywheel resume --run {run_id})") from None
        self.echo(f"flywheel run {run.pk}: {run.decision} — {run.reason}")
        self.echo("wall time per step: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.step_seconds.items()))

    def do_rollback(self, project, reason, verbosity, **_):
        try:
            out, restored = flywheel.rollback(self.project(project), reason)
        except RollbackError as exc:
            raise CommandError(str(exc)) from None
        if verbosity:
            self.stdout.write(f"rolled back {out.name}; deployed: {', '.join(c.name for c in restored)}")

    def do_demo(self, project, config, encoder, iterations, annotators, artist_delay, cache, report, serve, alphas,
                sft_steps, generators, verbosity, cond_layers, category_loss, category_condition=False, category_text=False,
                base="", replay=(), replay_share=0.5, **options):
        self.verbosity = verbosity
        fields = {k: options[k] for k in ("pretrain_steps", "vae_steps", "pretrain_n", "midtrain_n", "midtrain_steps",
                                          "collection_target", "n_candidates", "dpo_steps", "eval_n",
                                          "ranking_overlap", "best_of")}
        least = {"eval_n": 2, "midtrain_n": 0, "best_of": 0}  # rows for a standard error; no mid-training; none
        bad = [f"--{k.replace('_', '-')} must be at least {least.get(k, 1)}"
               for k, v in {**fields, "iterations": iterations, "annotators": annotators}.items()
               if v is not None and v < least.get(k, 1)]
        if min(sft_steps) < 1:
            bad.append("--sft-steps must each be at least 1")
        if fields["ranking_overlap"] > 10:
            bad.append("--ranking-overlap is at most 10 annotators per set")
        if fields["best_of"] > 64:
            bad.append("--best-of is at most 64 samples per set")
        if bad:
            raise CommandError("; ".join(bad) + ".")
        if not artist_delay >= 0:
            raise CommandError(f"--artist-delay is seconds, 0 or more; got {artist_delay}.")
        if cond_layers < -1:
            raise CommandError(f"--cond-layers is a number of layers, 0 or more (-1: the preset's); got {cond_layers}.")
        if not category_loss >= 0:
            raise CommandError(f"--category-loss is a loss weight, 0 or more; got {category_loss}.")
        if category_text and not category_condition:
            raise CommandError("--category-text is how π_0 is given the category: add --category-condition.")
        if category_condition and category_loss > 0:
            raise CommandError("--category-condition gives π_0 the category, so a category loss has nothing to teach; "
                               "use one or the other.")
        bad_replay = [p for p in replay if not flywheel.is_training_data(p)]
        if bad_replay:
            raise CommandError(f"--replay {' '.join(bad_replay)}: not a trainer cache (index.json) or an engine "
                               "export (manifest.json).")
        if replay and not 0 < replay_share < 1:
            raise CommandError(f"--replay-share is a share of each SFT batch, between 0 and 1 (both excluded); got "
                               f"{replay_share}.")
        if base and (category_condition or category_text):
            raise CommandError("--base: the checkpoint says whether π_0 is given the category; drop "
                               "--category-condition and --category-text.")
        if any(not 0 <= a <= 1 for a in alphas):
            raise CommandError(f"--alphas are rating bars between 0 and 1, got {alphas}.")
        from django.core.exceptions import ValidationError

        from engine.core.generators import check_generators

        try:
            check_generators(list(generators))
        except ValidationError as exc:
            raise CommandError(f"--generators: {' '.join(exc.messages)}") from None
        cfg = DemoConfig(project=project, preset=config, encoder=encoder, iterations=iterations, annotators=annotators,
                         artist_delay=artist_delay, cache=cache, cond_layers=cond_layers, category_loss=category_loss,
                         category_condition=category_condition, category_text=category_text, base=base,
                         replay=list(replay), replay_share=replay_share,
                         alphas=list(alphas), sft_steps=list(sft_steps), generators=list(generators), **fields)
        with ExitStack() as stack:
            if serve:
                host, _, port = serve.rpartition(":")
                if not port.isdigit():
                    raise CommandError(f"--serve takes HOST:PORT, got {serve!r}.")
                url = stack.enter_context(simulation_server(host or "127.0.0.1", int(port)))
                self.echo(f"Serving on {url} while the flywheel runs (log in as demo-engineer / demo-engineer: "
                          f"the dashboard follows each iteration of project {project!r})")
            try:
                result = run_demo(cfg, echo=self.echo)
            except (DemoError, flywheel.RunError) as exc:
                raise CommandError(str(exc)) from None
            if report:
                write_report(result, report)
            self.stdout.write("\n" + format_report(result) + "\n")
            if report:
                self.stdout.write(f"report: {report}")
            if serve:
                self.stdout.write(f"Still serving on {url}: continue by hand in the browser; Ctrl+C stops.")
                try:
                    threading.Event().wait()
                except KeyboardInterrupt:
                    pass

    def do_status(self, project, **_):
        self.stdout.write(json.dumps(flywheel.status(self.project(project)), indent=2, default=str))
