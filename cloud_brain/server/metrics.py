"""Prometheus metrics of the cloud: live sessions, first-step and plan latency, errors by kind,
and what the planner's model exposes (MTP acceptance, expert load).

Why: a fleet operator needs to see whether robots wait (first step), whether the planner keeps
up (plan latency, live sessions) and what goes wrong (errors by kind) without reading logs; the
model gauges show whether speculative decoding pays and whether experts stay balanced.

    brainstem cloud serve --port 50051 --metrics-port 9464 ; curl -s 127.0.0.1:9464/metrics
    brainstem serve openai --port 8000 ; curl -s 127.0.0.1:8000/metrics

Every server owns one `PlannerMetrics` with its own registry (several servers in one process
do not collide). The planner is timed by wrapping it (`instrument`), the gRPC service's replies
are counted by wrapping its sessions' `handle` (`attach`), so neither the planner nor the
session logic knows about metrics. Model gauges are read at scrape time and only where the
planner has them (`mtp_acceptance`, `model.expert_load`).
"""

from __future__ import annotations

import logging
import time
from typing import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PlannerMetrics:
    """The metric families of one server, in its own registry."""

    def __init__(self, planner=None, registry: CollectorRegistry | None = None):
        self.registry = r = registry or CollectorRegistry()
        self.live_sessions = Gauge("brainstem_live_sessions",
                                   "open sessions: gRPC Session streams, or HTTP plan requests in flight",
                                   registry=r)
        self.first_step = Histogram("brainstem_first_step_seconds",
                                    "command received -> first plan step known", buckets=LATENCY_BUCKETS_S,
                                    registry=r)
        self.plan_latency = Histogram("brainstem_plan_seconds", "command received -> whole plan known",
                                      buckets=LATENCY_BUCKETS_S, registry=r)
        self.plans = Counter("brainstem_plans", "plans finished, by outcome (plan, refused)",
                             ["outcome"], registry=r)
        self.errors = Counter("brainstem_errors", "errors by kind (planner exceptions, bad requests, "
                                                  "gRPC Error replies by code)", ["kind"], registry=r)
        self._http = None
        self.port: int | None = None  # of the /metrics HTTP server, once `serve`d
        if planner is not None:
            r.register(_ModelCollector(planner))

    # ---- the planner ---------------------------------------------------------------------
    def instrument(self, planner) -> "InstrumentedPlanner":
        return InstrumentedPlanner(planner, self)

    def error(self, kind: str) -> None:
        self.errors.labels(kind=kind).inc()

    # ---- the gRPC service ----------------------------------------------------------------
    def attach(self, service) -> None:
        """Count a CloudBrainService's open streams and its Error/Refusal replies."""
        self.live_sessions.set_function(lambda: len(getattr(service, "_streams", ())))
        new_session = service.new_session

        def counted_session():
            session = new_session()
            handle = session.handle

            def counted_handle(msg):
                for reply in handle(msg):
                    self._observe_reply(reply)
                    yield reply
            session.handle = counted_handle
            return session
        service.new_session = counted_session

    def _observe_reply(self, reply) -> None:
        try:
            kind = reply.WhichOneof("kind")
        except (AttributeError, ValueError):
            return
        if kind == "error":
            try:
                name = reply.error.Code.Name(reply.error.code)
            except (AttributeError, ValueError):
                name = str(reply.error.code)
            self.error(f"grpc_{name.lower()}")

    # ---- exposition ----------------------------------------------------------------------
    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve /metrics on its own HTTP port (the gRPC server has no HTTP); the bound port."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = (server, thread)
        self.port = bound = server.server_address[1]
        log.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        if self._http:
            server, thread = self._http
            server.shutdown()
            server.server_close()
            thread.join(timeout=2.0)
            self._http = None


class InstrumentedPlanner:
    """A planner that times itself into PlannerMetrics; everything else passes through."""

    def __init__(self, inner, metrics: PlannerMetrics):
        self.inner, self.metrics = inner, metrics
        self.name = getattr(inner, "name", type(inner).__name__)

    def __getattr__(self, attr):  # model, last_first_step_ms, world, ...
        return getattr(self.inner, attr)

    def plan(self, command, state):
        t0 = time.perf_counter()
        try:
            result = self.inner.plan(command, state)
        except Exception as e:
            self.metrics.error(f"planner_{type(e).__name__}")
            raise
        dt = time.perf_counter() - t0
        self.metrics.plan_latency.observe(dt)
        first = getattr(self.inner, "last_first_step_ms", None)
        self.metrics.first_step.observe(first / 1000 if first is not None and first / 1000 <= dt else dt)
        self.metrics.plans.labels(outcome="refused" if result.refusal else "plan").inc()
        return result

    def stream(self, command, state) -> Iterator:
        inner = getattr(self.inner, "stream", None)
        if not callable(inner):
            yield from self.plan(command, state).steps
            return
        t0 = time.perf_counter()
        first = refused = None
        finished = False
        try:
            for step in inner(command, state):
                if first is None:
                    first = time.perf_counter() - t0
                    self.metrics.first_step.observe(first)
                    refused = step.skill == "refuse"
                yield step
            finished = True
        except GeneratorExit:  # the consumer stopped (a refusal read, a client gone): not an error
            raise
        except Exception as e:
            self.metrics.error(f"planner_{type(e).__name__}")
            raise
        finally:
            if finished:
                dt = time.perf_counter() - t0
                if first is None:
                    self.metrics.first_step.observe(dt)  # an empty plan: known when it ends
                self.metrics.plan_latency.observe(dt)
                self.metrics.plans.labels(outcome="refused" if refused else "plan").inc()


class _ModelCollector:
    """Gauges read from the planner at scrape time, where it has them."""

    def __init__(self, planner):
        self.planner = planner

    def collect(self):
        p = self.planner
        if hasattr(p, "mtp_acceptance"):
            value = p.mtp_acceptance() if callable(p.mtp_acceptance) else p.mtp_acceptance
            if value is not None:
                g = GaugeMetricFamily("brainstem_mtp_acceptance_ratio",
                                      "accepted / proposed MTP draft tokens")
                g.add_metric([], float(value))
                yield g
        model = getattr(p, "model", None)
        if model is not None and hasattr(model, "expert_load"):
            try:
                load = model.expert_load("last")
            except Exception:  # a model mid-reload: skip this scrape
                log.debug("expert_load failed", exc_info=True)
                return
            tokens = GaugeMetricFamily("brainstem_expert_load_tokens",
                                       "tokens routed to each expert in the last forward pass",
                                       labels=["layer", "expert"])
            ratio = GaugeMetricFamily("brainstem_expert_load_max_over_mean",
                                      "max / mean expert load in the last forward pass (1.0: balanced)",
                                      labels=["layer"])
            for i, layer in enumerate(load.get("layers", [])):
                for e, n in enumerate(layer.get("load", [])):
                    tokens.add_metric([str(i), str(e)], float(n))
                if "max_over_mean" in layer:
                    ratio.add_metric([str(i)], float(layer["max_over_mean"]))
            yield tokens
            yield ratio
