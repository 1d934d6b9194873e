"""`brainstem serve openai`: an embedded planner behind an OpenAI-compatible HTTP API.

Why: the `openai` backend (cloud_brain/backends/openai_compat.py) must be testable against a
real HTTP server without a GPU, and any OpenAI client (curl, the `openai` package, an agent
framework) can then plan with the rules or MoE planner. Routes:

    GET  /v1/models             the one model served: brainstem-<backend> (or --served-model-name)
    POST /v1/chat/completions   stream true/false; response_format json_schema / json_object / text
    GET  /metrics               Prometheus (cloud_brain/server/metrics.py)
    GET  /health                200 once the planner is loaded

    brainstem serve openai --port 8000                      # the embedded MoE; --backend rules
    curl -s 127.0.0.1:8000/v1/models

Request (protocol brainstem.plan_request.v1, built by openai_compat.build_messages): the system
message is JSON with the world (name, entities) and the symbolic `state` (WorldState
.to_snapshot()); the first user message is the command; later turns (a client's corrections)
are ignored, since the embedded planners validate their own plans. The answer is the plan as
{"steps": [{"skill": ..., <param>: ...}, ...]} (json_schema / json_object), checked against the
requested schema, or as plan text, one step per line (no response_format). With `stream: true`
steps go out as server-sent chunks the moment the planner has them (Planner.stream).
Errors are OpenAI-shaped ({"error": {"message", "type", "param", "code"}}): 400 for a bad
request, schema or world state, 404 for an unknown model, 422 when the plan does not fit the
requested schema, 500 when the planner fails; inside a stream, an error chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import functools
import json
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from cloud_brain.backends.openai_compat import PROTOCOL, step_to_json
from cloud_brain.domain.description import WorldDescription, WorldError, load_world
from cloud_brain.domain.plan import PlanError, Step, validate
from cloud_brain.domain.state import WorldState
from cloud_brain.planner.base import DEFAULT_BACKEND
from cloud_brain.server.metrics import PlannerMetrics

log = logging.getLogger(__name__)

MAX_COMMAND_CHARS = 2000
MAX_BODY_BYTES = 1 << 20


class ApiError(Exception):
    """An error answered to the client in OpenAI's shape."""

    def __init__(self, status: int, message: str, kind: str, param: str | None = None,
                 type_: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.type = status, message, kind, param, type_

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.kind}}


# ---- reading a request ------------------------------------------------------------------------
def _text_of(content: Any) -> str:
    """Message content as text: a string, or OpenAI's list of {"type": "text", "text": ...} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


@dataclass
class PlanRequest:
    command: str
    state: WorldState
    mode: str  # "text", "json_object" or "json_schema"
    validator: Any = None  # jsonschema validator of the requested schema
    stream: bool = False
    model: str = ""


def parse_request(body: Any, desc: WorldDescription, model_ids: list[str]) -> PlanRequest:
    """A chat-completions body -> PlanRequest; ApiError saying exactly what is wrong."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_body")
    model = body.get("model")
    if model not in model_ids:
        raise ApiError(404, f"the model '{model}' does not exist; this server serves {model_ids}",
                       "model_not_found", "model")
    if body.get("n", 1) != 1:
        raise ApiError(400, "only n=1 is supported (a plan is deterministic)", "invalid_n", "n")
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ApiError(400, "'messages' must be a list of {role, content} objects", "invalid_messages",
                       "messages")
    system = [m for m in messages if m.get("role") in ("system", "developer")]
    users = [m for m in messages if m.get("role") == "user"]
    if not system:
        raise ApiError(400, f"no system message: it must carry the world state as JSON "
                            f"(protocol {PROTOCOL}; see cloud_brain/backends/openai_compat.py)",
                       "missing_world", "messages")
    if not users or not _text_of(users[0].get("content")).strip():
        raise ApiError(400, "no user message: the first user message is the command", "missing_command",
                       "messages")
    command = _text_of(users[0]["content"]).strip()
    if len(command) > MAX_COMMAND_CHARS:
        raise ApiError(400, f"the command is {len(command)} characters; the limit is {MAX_COMMAND_CHARS}",
                       "command_too_long", "messages")
    state = parse_world_message(_text_of(system[0].get("content")), desc)
    mode, validator = parse_response_format(body.get("response_format"))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false", "invalid_stream", "stream")
    return PlanRequest(command, state, mode, validator, stream, model)


def parse_world_message(text: str, desc: WorldDescription) -> WorldState:
    """The system message -> the symbolic state, every name checked against the served world."""
    from cloud_brain.server.session import state_from_snapshot

    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ApiError(400, f"bad world: the system message is not JSON ({e}); it must be the "
                            f"{PROTOCOL} world message", "bad_world", "messages") from None
    if not isinstance(doc, dict) or doc.get("protocol") != PROTOCOL:
        raise ApiError(400, f"bad world: the system message must be a JSON object with "
                            f"\"protocol\": \"{PROTOCOL}\"", "bad_world", "messages")
    name = (doc.get("world") or {}).get("name") if isinstance(doc.get("world"), dict) else None
    snap = doc.get("state")
    if not isinstance(snap, dict):
        raise ApiError(400, "bad world: the system message has no \"state\" object "
                            "(WorldState.to_snapshot())", "bad_world", "messages")
    name = snap.get("world_name") or name
    if name and name != desc.name:
        raise ApiError(400, f"bad world: the request is for world '{name}' but this server plans in "
                            f"'{desc.name}' (start it with --world)", "bad_world", "messages")
    try:
        return state_from_snapshot(desc, snap)
    except (WorldError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise ApiError(400, f"bad world: {e}", "bad_world", "messages") from None


def parse_response_format(rf: Any):
    """(mode, validator or None); ApiError for a format or schema this server cannot honour."""
    if rf is None or rf == {} or (isinstance(rf, dict) and rf.get("type") == "text"):
        return "text", None
    if not isinstance(rf, dict):
        raise ApiError(400, "'response_format' must be an object", "bad_schema", "response_format")
    if rf.get("type") == "json_object":
        return "json_object", None
    if rf.get("type") != "json_schema":
        raise ApiError(400, f"unsupported response_format type {rf.get('type')!r}; use json_schema, "
                            "json_object or text", "bad_schema", "response_format")
    spec = rf.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise ApiError(400, "response_format.json_schema.schema must be a JSON schema object",
                       "bad_schema", "response_format")
    return "json_schema", _validator(json.dumps(schema, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str):
    """A checked validator per distinct schema (checking one costs ~50 ms; clients resend the
    same schema with every request of a world)."""
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as e:
        raise ApiError(400, f"response_format.json_schema.schema is not a valid JSON schema: {e.message} "
                            f"(at {'/'.join(map(str, e.absolute_path)) or 'the root'})",
                       "bad_schema", "response_format") from None
    steps = (schema.get("properties") or {}).get("steps") if isinstance(schema.get("properties"), dict) else None
    if schema.get("type") != "object" or not isinstance(steps, dict) or steps.get("type") != "array":
        raise ApiError(400, "unsupported response schema: this server answers plans as "
                            "{\"steps\": [{\"skill\": ..., <param>: ...}]}, so the schema must be an "
                            "object with a \"steps\" array (openai_compat.plan_schema builds it)",
                       "bad_schema", "response_format")
    return cls(schema)


def _schema_problem(validator, steps: list[dict], only_index: int | None = None) -> str | None:
    """Why {"steps": steps} does not fit the requested schema (None: it fits). With
    `only_index`, only errors in that step count (a prefix of a streamed plan)."""
    from jsonschema.exceptions import best_match

    errors = [e for e in validator.iter_errors({"steps": steps})
              if only_index is None or list(e.absolute_path)[:2] == ["steps", only_index]]
    if not errors:
        return None
    err = best_match(errors)
    branches: dict = {}
    for c in err.context or ():
        branches.setdefault(c.schema_path[0], []).append(c)
    same_skill = [b for b in branches.values() if not any(list(c.relative_path)[:1] == ["skill"] for c in b)]
    if len(same_skill) == 1:  # an anyOf of steps: what is wrong in the branch of this step's skill
        err = best_match(same_skill[0])
    where = "/".join(map(str, err.absolute_path)) or "the plan"
    return f"the plan does not fit the requested schema at {where}: {err.message}"


# ---- the app ----------------------------------------------------------------------------------
class PlanService:
    """The planner and everything a request needs; the HTTP layer is `create_app`."""

    def __init__(self, planner, desc: WorldDescription, model_id: str,
                 metrics: PlannerMetrics | None = None):
        self.metrics = metrics or PlannerMetrics(planner)
        self.planner = self.metrics.instrument(planner)
        self.desc, self.model_id = desc, model_id
        self.created = int(time.time())

    def plan(self, req: PlanRequest) -> tuple[str, dict]:
        """The whole answer (content, extra fields) of a non-streamed request."""
        result = self.planner.plan(req.command, req.state)
        steps = list(result.steps)
        try:
            validate(steps, req.state)
        except PlanError as e:
            raise ApiError(500, f"the planner made an invalid plan: {e}", "invalid_plan",
                           type_="server_error") from None
        objs = [step_to_json(s) for s in steps]
        if req.validator is not None:
            problem = _schema_problem(req.validator, objs)
            if problem:
                raise ApiError(422, problem, "schema_mismatch", "response_format")
        if req.mode == "text":
            content = "\n".join(str(s) for s in steps)
        else:
            content = json.dumps({"steps": objs}, ensure_ascii=False)
        return content, {"plan_ms": round(result.latency_ms, 3), "refusal": result.refusal}

    def stream_pieces(self, req: PlanRequest) -> Iterator[str]:
        """Content pieces as steps are decoded; ApiError mid-way (the caller sends it as a chunk)."""
        json_mode = req.mode != "text"
        sent: list[Step] = []
        objs: list[dict] = []
        if json_mode:
            yield '{"steps": ['
        for step in self.planner.stream(req.command, req.state):
            try:
                validate(sent + [step], req.state)
            except PlanError as e:
                raise ApiError(500, f"the planner made an invalid plan: {e}", "invalid_plan",
                               type_="server_error") from None
            obj = step_to_json(step)
            if req.validator is not None:
                problem = _schema_problem(req.validator, objs + [obj], only_index=len(objs))
                if problem:
                    raise ApiError(422, problem, "schema_mismatch", "response_format")
            sent.append(step)
            objs.append(obj)
            if json_mode:
                yield (", " if len(objs) > 1 else "") + json.dumps(obj, ensure_ascii=False)
            else:
                yield str(step) + "\n"
        if req.validator is not None:
            problem = _schema_problem(req.validator, objs)
            if problem:
                raise ApiError(422, problem, "schema_mismatch", "response_format")
        if json_mode:
            yield "]}"


def create_app(service: PlanService):
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    m = service.metrics

    def error_response(e: ApiError) -> JSONResponse:
        m.error(e.kind)
        return JSONResponse(e.body(), status_code=e.status)

    async def models(_: Request):
        return JSONResponse({"object": "list", "data": [
            {"id": service.model_id, "object": "model", "created": service.created,
             "owned_by": "brainstem", "root": service.model_id, "max_model_len": None}]})

    async def health(_: Request):
        return JSONResponse({"status": "ok", "model": service.model_id, "world": service.desc.name})

    async def metrics(_: Request):
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    async def chat_completions(request: Request):
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return error_response(ApiError(413, f"the body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}",
                                           "too_large"))
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return error_response(ApiError(400, f"the body is not JSON: {e}", "invalid_body"))
        try:
            req = parse_request(body, service.desc, [service.model_id])
        except ApiError as e:
            return error_response(e)
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not req.stream:
            m.live_sessions.inc()
            try:
                content, extra = await run_in_threadpool(service.plan, req)
            except ApiError as e:
                return error_response(e)
            except Exception as e:  # the planner failed: a 500 the client may retry
                log.exception("planner failed on %r", req.command)
                return error_response(ApiError(500, f"planner failed: {type(e).__name__}: {e}",
                                               "planner_error", type_="server_error"))
            finally:
                m.live_sessions.dec()
            return JSONResponse({
                "id": cid, "object": "chat.completion", "created": created, "model": req.model,
                "system_fingerprint": f"brainstem-{service.planner.name}",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content,
                                                     "refusal": None},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": None, "brainstem": extra})
        return StreamingResponse(_sse(req, cid, created), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def _chunk(cid, created, model, delta, finish=None) -> str:
        return "data: " + json.dumps({
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": f"brainstem-{service.planner.name}",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]},
            ensure_ascii=False) + "\n\n"

    async def _sse(req: PlanRequest, cid: str, created: int):
        """SSE over the planner's (blocking) stream, run on a worker thread step by step."""
        m.live_sessions.inc()
        pieces = service.stream_pieces(req)
        done = object()
        try:
            yield _chunk(cid, created, req.model, {"role": "assistant", "content": ""})
            while True:
                try:
                    piece = await run_in_threadpool(next, pieces, done)
                except ApiError as e:
                    m.error(e.kind)
                    yield "data: " + json.dumps(e.body()) + "\n\n"
                    return
                except Exception as e:
                    log.exception("planner failed on %r", req.command)
                    m.error("planner_error")
                    yield "data: " + json.dumps(ApiError(500, f"planner failed: {type(e).__name__}: {e}",
                                                         "planner_error", type_="server_error").body()) + "\n\n"
                    return
                if piece is done:
                    break
                yield _chunk(cid, created, req.model, {"content": piece})
            yield _chunk(cid, created, req.model, {}, "stop")
            yield "data: [DONE]\n\n"
        finally:
            m.live_sessions.dec()
            try:
                await run_in_threadpool(pieces.close)  # a client gone mid-plan stops the decoder
            except ValueError:  # still running on a worker thread: it is closed when collected
                pass

    async def not_found(request: Request, exc):
        return JSONResponse(ApiError(404, f"no route {request.method} {request.url.path}; routes: "
                                          "/v1/models, /v1/chat/completions, /metrics, /health",
                                     "not_found").body(), status_code=404)

    return Starlette(routes=[
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ], exception_handlers={404: not_found})


# ---- the server -------------------------------------------------------------------------------
@dataclass
class OpenAIServer:
    """A running server on its own thread (in-process use); `port` is the bound port."""

    port: int
    server: Any  # uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5.0)


def build(backend: str = DEFAULT_BACKEND, world_path: str | Path | None = None,
          served_model_name: str | None = None) -> PlanService:
    from cloud_brain.planner.base import get_planner

    from cloud_brain.backends.openai_compat import plan_schema

    desc = load_world(world_path)
    planner = get_planner(backend, desc)
    _validator(json.dumps(plan_schema(desc), sort_keys=True))  # warm: the first request is not slow
    import cloud_brain.server.session  # noqa: F401  (state_from_snapshot, imported per request)
    return PlanService(planner, desc, served_model_name or f"brainstem-{backend}")


def _bind(host: str, port: int) -> socket.socket:
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and without
    # it a response's header and body writes meet delayed ACKs (+40 ms per request)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                         socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # connections queue from now on, while uvicorn starts
    except OSError as e:
        sock.close()
        raise OSError(f"cannot bind {host}:{port}: {e}") from e
    return sock


def _uvicorn(service: PlanService, log_level: str):
    import uvicorn

    return uvicorn.Server(uvicorn.Config(create_app(service), log_level=log_level.lower(),
                                         access_log=False, lifespan="off", timeout_graceful_shutdown=2))


def serve_in_thread(service: PlanService, port: int = 0, host: str = "127.0.0.1",
                    log_level: str = "warning") -> OpenAIServer:
    """Start on a thread of this process; returns once the port accepts connections."""
    sock = _bind(host, port)
    server = _uvicorn(service, log_level)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              name="openai-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the OpenAI-compatible server did not start on {host}:{port}")
        time.sleep(0.01)
    return OpenAIServer(sock.getsockname()[1], server, thread)


def main(argv: list[str] | None = None) -> int:
    faulthandler.enable()
    ap = argparse.ArgumentParser(prog="brainstem serve openai", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    ap.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept remote clients")
    ap.add_argument("--backend", default=DEFAULT_BACKEND, help="the embedded planner: moe or rules")
    ap.add_argument("--world", default=None, help="world description YAML (default: the home)")
    ap.add_argument("--served-model-name", default=None, help="model id (default brainstem-<backend>)")
    ap.add_argument("--log-level", default="INFO")
    a = ap.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = build(a.backend, a.world, a.served_model_name)
    sock = _bind(a.host, a.port)
    host, port = sock.getsockname()[:2]
    # the first line of stdout: scripts and tests read the port from it (with --port 0)
    print(f"brainstem serve openai: http://{host}:{port}/v1 (model {service.model_id}, "
          f"world {service.desc.name}; /metrics)", flush=True)
    server = _uvicorn(service, "warning" if a.log_level.upper() != "DEBUG" else "debug")
    asyncio.run(server.serve(sockets=[sock]))  # uvicorn handles SIGINT / SIGTERM
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
