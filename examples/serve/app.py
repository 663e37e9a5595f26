"""A small prediction service: a Starlette app that serves a saved pynncore model.

Endpoints:
    GET  /health   -> {"status": "ok", "input_shape": [...], "output_shape": [...]}
    POST /predict  body {"instances": [[...64 floats...], ...]}
                   -> {"predictions": [[...10 probabilities...], ...], "classes": [...]}

The model is loaded once at start-up (``PYNNCORE_MODEL``, default ``digits.pnc`` beside this file).
Predictions run in Starlette's worker threads: ``Model.predict`` is safe to call from many threads
at once, and the native kernels release the GIL while they compute. Malformed requests get a 400
with the reason; nothing a client sends can reach code execution (the model file format holds only
tensors and JSON).

Run:  pip install starlette uvicorn
      python examples/serve/train_model.py
      uvicorn --app-dir examples/serve app:app --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import json
import os

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import pynncore

MODEL_PATH = os.environ.get(
    "PYNNCORE_MODEL", os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.pnc")
)
MAX_INSTANCES = 1024

model = pynncore.load_model(MODEL_PATH, compile=False)
_input_shape = tuple(model.input_shape[1:])


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def health(request: Request) -> JSONResponse:
    return JSONResponse(
        {"status": "ok", "input_shape": list(_input_shape), "output_shape": list(model.output_shape[1:])}
    )


async def predict(request: Request) -> JSONResponse:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        return _bad_request(f"body is not JSON: {exc}")
    instances = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(instances, list) or not instances:
        return _bad_request('expected {"instances": [[...], ...]} with at least one instance')
    if len(instances) > MAX_INSTANCES:
        return _bad_request(f"at most {MAX_INSTANCES} instances per request. Received: {len(instances)}")
    try:
        x = np.asarray(instances, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        return _bad_request(f"instances must be numbers of one shape: {exc}")
    if x.shape[1:] != _input_shape:
        return _bad_request(f"each instance must have shape {list(_input_shape)}. Received: {list(x.shape[1:])}")
    if not np.all(np.isfinite(x)):
        return _bad_request("instances must be finite numbers")
    probs = await run_in_threadpool(model.predict, x, verbose=0)
    return JSONResponse({"predictions": probs.tolist(), "classes": probs.argmax(axis=1).tolist()})


app = Starlette(routes=[Route("/health", health), Route("/predict", predict, methods=["POST"])])
