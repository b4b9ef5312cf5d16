"""The REST service's FastAPI app: GET /health, GET /models, POST /predict over saved runs.

Routes only translate HTTP: the runs and loaded models are `service_models.ModelCatalog`, batching
is `service_batching.BatchWorker`. Every refusal is one sentence in `{"detail": ...}`: 413 for a
body over the limit, 422 for a malformed request (with the limits), 401 without the API key,
404 for an unknown model (naming the ids there are), 503 with Retry-After when the queue is full.
"""

# No `from __future__ import annotations`: FastAPI must see the request model created at start-up
# (its limits are flags) as a real annotation, not a string.
import asyncio
import logging
import secrets
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import LabError
from core.service_settings import ServiceSettings
from core.service_batching import BatchWorker, Overloaded
from core.service_models import ModelCatalog, UnknownModel, describe, resolve_backend

log = logging.getLogger("core.service")
MAX_ID_CHARS = 200  # run ids are folder names like 20251127-101500-frozen-a1b2c3


class ErrorBody(BaseModel):
    """Every refusal: 400, 401, 404, 413, 422, 503 (with Retry-After)."""

    detail: str = Field(description="what is wrong, in one sentence")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    backend: str
    queued_texts: int
    max_queue: int
    batches: int
    texts: int
    largest_batch: int
    busy_seconds: float = Field(description="time the worker spent running batches")


class TargetInfo(BaseModel):
    name: str
    kind: Literal["classification", "regression"]
    labels: list[str]
    metrics: dict[str, float | None] = Field(description="held-out: accuracy, macro_f1 or r2, mae, rmse")


class ModelInfo(BaseModel):
    """A servable run."""

    id: str = Field(description="the run folder's name; POST /predict names it")
    strategy: str
    task: Literal["classification", "regression", "multi-task"]
    labels: list[str] = Field(description="the classes, or the target names for a number or several columns")
    targets: list[TargetInfo]
    score_name: str
    score: float | None
    data: str = Field(description="the data it was trained on, with split sizes")
    max_length: int | None = Field(description="tokens read per text (None: TF-IDF reads all)")
    saved_at: str


class ModelList(BaseModel):
    backend: str
    models: list[ModelInfo]


class PredictionOut(BaseModel):
    """One text's prediction: the first target's, and the further targets' in `others` (multi-task)."""

    label: str = Field(description="the class, or the number as text for a numeric target")
    confidence: float | None = Field(None, description="the label's probability (classes only)")
    probabilities: dict[str, float] = Field(default_factory=dict, description="every class's probability")
    value: float | None = Field(None, description="the predicted number (numeric target only)")
    others: dict[str, "PredictionOut"] = Field(default_factory=dict, description="further targets, by name")


class PredictResponse(BaseModel):
    model: str
    predictions: list[PredictionOut]


def predict_request_model(settings: ServiceSettings) -> type[BaseModel]:
    """The POST /predict body, with this service's limits on texts and characters in its schema."""
    text = Annotated[str, Field(max_length=settings.max_chars)]
    return create_model(
        "PredictRequest", __config__=ConfigDict(extra="forbid"),
        model=(str, Field(min_length=1, max_length=MAX_ID_CHARS, description="a run id from GET /models")),
        texts=(list[text], Field(min_length=1, max_length=settings.max_texts,
                                 description=f"1 to {settings.max_texts} texts of at most {settings.max_chars} characters")))


# ------------------------------------------------------------------ the work behind the routes


async def predict_texts(catalog: ModelCatalog, batcher: BatchWorker, model_id: str, texts: list[str]) -> dict:
    """Predictions for texts from one model, through the shared batch queue (UnknownModel, Overloaded)."""
    if not catalog.knows(model_id):
        await run_in_threadpool(catalog.get, model_id)  # reads the runs folder again: off the event loop
    predictions = await asyncio.wrap_future(batcher.submit(model_id, texts))
    return {"model": model_id, "predictions": [prediction_dict(p) for p in predictions]}


def prediction_dict(prediction) -> dict:
    """A core.predict.Prediction as the response's plain JSON."""
    return {"label": prediction.label, "confidence": prediction.confidence,
            "probabilities": prediction.probabilities, "value": prediction.value,
            "others": {name: prediction_dict(other) for name, other in prediction.others.items()}}


def health_of(app: FastAPI) -> dict:
    """Queue and batching counters for GET /health."""
    batcher, stats = app.state.batcher, app.state.batcher.stats
    return {"backend": app.state.catalog.backend, "queued_texts": batcher.queued, "max_queue": batcher.max_queue,
            "batches": stats.batches, "texts": stats.texts, "largest_batch": stats.largest,
            "busy_seconds": round(stats.busy_seconds, 3)}


# ------------------------------------------------------------------ dependencies


def catalog_of(request: Request) -> ModelCatalog:
    """The app's runs and loaded models."""
    return request.app.state.catalog


def batcher_of(request: Request) -> BatchWorker:
    """The app's batch queue."""
    return request.app.state.batcher


def require_api_key(request: Request,
                    key: str | None = Security(APIKeyHeader(name="X-API-Key", auto_error=False)),
                    bearer: HTTPAuthorizationCredentials | None = Security(HTTPBearer(auto_error=False))) -> None:
    """The request must carry the service's API key (X-API-Key or Authorization: Bearer): else 401."""
    expected = request.app.state.settings.api_key
    given = key or (bearer.credentials if bearer else "")
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "This service needs an API key: send it as X-API-Key or Authorization: Bearer.",
                            headers={"WWW-Authenticate": "Bearer"})


# ------------------------------------------------------------------ routers

ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 413, 422, 503)}


def health_router() -> APIRouter:
    """GET /health, open even where the service has an API key (for liveness checks)."""
    router = APIRouter(tags=["health"])

    @router.get("/health", response_model=Health)
    def health(request: Request) -> dict:
        """The service is up; how full its queue is and how much it has batched."""
        return health_of(request.app)

    return router


def guarded(settings: ServiceSettings) -> list:
    """The API-key check where the service has a key (so the schema declares auth only then)."""
    return [Depends(require_api_key)] if settings.api_key else []


def models_router(settings: ServiceSettings) -> APIRouter:
    """GET /models."""
    router = APIRouter(tags=["models"], dependencies=guarded(settings))

    @router.get("/models", response_model=ModelList, responses={401: ERRORS[401]} if settings.api_key else {})
    def models(catalog: ModelCatalog = Depends(catalog_of)) -> dict:  # sync: FastAPI runs it off the loop
        """Every servable run: id, strategy, labels or targets, held-out metrics, data."""
        return {"backend": catalog.backend, "models": [describe(run) for run in catalog.runs().values()]}

    return router


def predict_router(settings: ServiceSettings) -> APIRouter:
    """POST /predict, its body limited by the settings."""
    router = APIRouter(tags=["predict"], dependencies=guarded(settings))
    body_model = predict_request_model(settings)

    @router.post("/predict", response_model=PredictResponse, responses={**ERRORS, 404: {"model": ErrorBody}})
    async def predict(body: body_model, catalog: ModelCatalog = Depends(catalog_of),
                      batcher: BatchWorker = Depends(batcher_of)) -> dict:
        """One prediction per text from the named run's model; concurrent requests share forward passes."""
        return await predict_texts(catalog, batcher, body.model, body.texts)

    return router


# ------------------------------------------------------------------ limits and errors


class BodyTooLarge(HTTPException):
    """413, raised while the body is read (FastAPI answers HTTPExceptions from there)."""

    def __init__(self, limit: int):
        super().__init__(413, f"The request body is over the limit of {limit:,} bytes; send fewer or shorter texts.")


class BodyLimit:
    """ASGI middleware: 413 for a body over `limit` bytes, from Content-Length before reading, else while reading."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            refusal = BodyTooLarge(self.limit)
            return await JSONResponse({"detail": refusal.detail}, 413)(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLarge(self.limit)  # FastAPI answers an HTTPException raised while reading the body
            return message

        await self.app(scope, limited_receive, send)


def validation_sentence(errors) -> str:
    """The first problem of a rejected request body in one sentence, with the limit where one was hit."""
    error = errors[0]
    loc = [str(part) for part in error["loc"] if part != "body"]
    kind, ctx, where = error["type"], error.get("ctx") or {}, ".".join(loc)
    if kind == "json_invalid":
        return f"The body is not valid JSON ({ctx.get('error', 'decode error')})."
    if loc == ["texts"] and kind == "too_long":
        return f"Too many texts: {ctx.get('actual_length')} given, at most {ctx['max_length']} per request."
    if len(loc) == 2 and loc[0] == "texts" and kind == "string_too_long":
        return (f"Text {loc[1]} has {len(error['input']):,} characters; at most {ctx['max_length']:,} are "
                f"allowed per text.")
    if kind == "missing":
        return f"The body needs the field '{where}' (the fields are model and texts)." if where else \
            "The body is missing: send JSON with model and texts."
    if kind == "extra_forbidden":
        return f"Unknown field '{where}'; the fields are model and texts."
    more = {1: "", 2: " (and 1 more problem)"}.get(len(errors), f" (and {len(errors) - 1} more problems)")
    return f"{where or 'The body'}: {error['msg']}{more}."


def add_error_handlers(app: FastAPI) -> None:
    """Every refusal as {"detail": one sentence}, with the status that says what happened."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # FastAPI's only 400 here: a body that is not text (bytes that are not UTF-8) cannot be parsed at all.
        detail = "The body could not be read: send UTF-8 JSON with model and texts." if exc.status_code == 400 \
            else exc.detail
        return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": validation_sentence(exc.errors())}, 422)

    @app.exception_handler(UnknownModel)
    async def unknown(request: Request, exc: UnknownModel):
        return JSONResponse({"detail": str(exc)}, 404)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded):
        return JSONResponse({"detail": str(exc)}, 503, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(LabError)
    async def failed(request: Request, exc: LabError):
        log.error("prediction failed: %s", exc)
        return JSONResponse({"detail": f"The model could not be used: {exc}"}, 500)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception):  # a bug: logged with its traceback, answered in one line
        log.exception("unexpected error")
        return JSONResponse({"detail": f"The service failed ({type(exc).__name__}); its log has the details."}, 500)


# ------------------------------------------------------------------ the app


def create_app(settings: ServiceSettings, catalog: ModelCatalog | None = None) -> FastAPI:
    """The service over `settings.runs` (or the given catalog); the batch worker starts with the first request."""
    catalog = catalog or ModelCatalog(settings.runs, settings.cache_models, resolve_backend(settings.backend))
    batcher = BatchWorker(catalog.predict, settings.max_queue, settings.max_batch, settings.max_wait_ms / 1000)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()

    app = FastAPI(title="Transfer Learning Lab", version="1.0",
                  description="Predictions from the runs saved by the lab (`python -m core serve`).", lifespan=lifespan)
    app.state.settings, app.state.catalog, app.state.batcher = settings, catalog, batcher
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    add_error_handlers(app)
    app.include_router(health_router())
    app.include_router(models_router(settings))
    app.include_router(predict_router(settings))
    return app
