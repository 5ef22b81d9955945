"""The RQ worker the `trainer` queue runs on (settings.RQ["WORKER_CLASS"], so `manage.py rqworker` uses it).

rq 3's worker listens for commands on a pub/sub thread that waits up to 60 s per read
(`run_in_thread(sleep_time=60)`). On a warm shutdown it unsubscribes, then stops that thread, and
redis-py 8's `PubSubWorkerThread.stop()` waits for the thread to finish its read. When the
unsubscribe's reply is read before the stop flag is cleared, the thread starts another 60 s read,
and the worker outlives a supervisor's grace period (honcho's 5 s: seen as a SIGKILL in
tests/deploy/test_procfile.py). Reading in 1 s slices bounds that wait to about a second; an idle
read is a socket timeout, not a Redis command, so it costs nothing.
"""

from rq import Worker

PUBSUB_READ_SECONDS = 1.0


class TrainerWorker(Worker):
    """rq's Worker, whose command thread reads in PUBSUB_READ_SECONDS slices (see the module docstring)."""

    def subscribe(self):
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_READ_SECONDS, daemon=True, exception_handler=self._pubsub_exception_handler)
