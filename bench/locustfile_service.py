"""Locust users for bench/load_service.py: each posts `LOAD_BATCH` Rotten Tomatoes sentences to
POST /predict of the service on loopback, back to back (no think time), and counts every answer
that is not 200 as a failure named by its status ("HTTP 503").

Configured by bench/load_service.py through the environment: LOAD_TEXTS (a JSON file of texts),
LOAD_MODEL (the run id), LOAD_BATCH (texts per request). Run by hand, for example:

    LOAD_TEXTS=texts.json LOAD_MODEL=<run id> LOAD_BATCH=1 locust -f bench/locustfile_service.py \
        --headless -u 50 -r 50 -t 60s --host http://127.0.0.1:8000 --csv /tmp/single
"""

import json
import os
import random

from locust import FastHttpUser, constant, task

TEXTS = json.loads(open(os.environ["LOAD_TEXTS"], encoding="utf-8").read())
MODEL = os.environ["LOAD_MODEL"]
BATCH = int(os.environ.get("LOAD_BATCH", "1"))


class ServiceUser(FastHttpUser):
    wait_time = constant(0)  # a closed loop: the next request leaves as soon as the answer arrives

    @task
    def predict(self):
        body = {"model": MODEL, "texts": random.sample(TEXTS, BATCH)}
        with self.client.post("/predict", json=body, name=f"POST /predict x{BATCH}", catch_response=True) as response:
            if response.status_code == 200:
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}")
