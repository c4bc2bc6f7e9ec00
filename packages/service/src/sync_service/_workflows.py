"""The `pipeline` workflow (lifecycle, live lane) and its `backfill` child. Deterministic code only: activities
are named, never imported, so the sandbox loads nothing but `_payloads`.

pipeline:  [paused] ⇄ setup → backfill (child) → ready (periodic reconcile = the same child)
                              └─ live lane ──────┴─ live lane: pushed events, beside the backfill when the source
                                                   reads time ranges, else once it is done
           any step can park in `error` until credentials_updated / config_updated / deployment_updated;
           desired `deleted` → teardown, shielded from cancellation; continue-as-new as history grows.

Newer wins: a live sync re-fetches each pushed event's object (the source applies an event by reading the object
again), so it writes the version current when it ran. A backfill chunk running at the same time may have read an
object earlier and commit it later, so every event the live lane applied while a backfill ran is queued again
when that backfill completes: its second application reads the object after every chunk committed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from ._payloads import (
    ACTIVE,
    BACKFILL,
    DELETED,
    DESIRED_STATUSES,
    ERROR,
    LIVE,
    PAUSED,
    READY,
    SETUP,
    TEARDOWN,
    BackfillOutcome,
    BackfillParams,
    PipelineParams,
    StepOutcome,
    SyncOutcome,
    SyncRequest,
    Timing,
)

PERMANENT_ERROR_TYPE = "PermanentSyncError"
LIVE_BATCH = 1000
STATUS_TIMEOUT = timedelta(seconds=30)
STEP_TIMEOUT = timedelta(minutes=10)


def _sync_options(timing: Timing) -> dict[str, Any]:
    return {
        "start_to_close_timeout": timedelta(seconds=timing.sync_timeout_s),
        "heartbeat_timeout": timedelta(seconds=timing.heartbeat_timeout_s),
        "retry_policy": _retry(timing),
        "cancellation_type": workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    }


def _retry(timing: Timing) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=timing.retry_initial_s),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=max(timing.retry_initial_s, 60.0)),
        maximum_attempts=timing.max_attempts,
    )


def _cause(exc: BaseException) -> str:
    """The innermost message of an activity or child failure (already redacted by the engine)."""
    while isinstance(exc, ActivityError | ChildWorkflowError) and exc.cause is not None:
        exc = exc.cause
    return exc.message if isinstance(exc, ApplicationError) else str(exc)


@workflow.defn(name="backfill")
class BackfillWorkflow:
    """Loops the sync activity until nothing is left; errored streams are skipped in later chunks.

    Returns normally when every stream finished or errored on its own; fails (non-retryably) only when a sync
    ended with a permanent `error` (the user's config or credentials). `system_error`s are retried by the
    activity's retry policy; when they outlast it, the activity error fails the child.
    """

    @workflow.run
    async def run(self, params: BackfillParams) -> BackfillOutcome:
        skip: list[str] = []
        chunks = records = 0
        while True:
            outcome: SyncOutcome = await workflow.execute_activity(
                "sync_pipeline",
                SyncRequest(params.pipeline_id, params.purpose, skip_streams=list(skip), epoch=params.epoch),
                result_type=SyncOutcome,
                **_sync_options(params.timing),
            )
            chunks, records = chunks + 1, records + outcome.records  # counted only after the activity succeeded
            if outcome.status == ERROR:
                raise ApplicationError(
                    outcome.reason or "the sync failed", type=PERMANENT_ERROR_TYPE, non_retryable=True
                )
            skip += [s for s in outcome.errored_streams if s not in skip]
            if not outcome.has_more:
                return BackfillOutcome(chunks=chunks, records=records, errored_streams=skip)


@workflow.defn(name="pipeline")
class PipelineWorkflow:
    """One pipeline's lifecycle. Never fails: problems park it in `error` until a recovery signal."""

    @workflow.init
    def __init__(self, params: PipelineParams) -> None:
        # set here, not in run: signals that arrived with the start (or during continue-as-new) are handled
        # before run begins, and must land in these params
        self.p = params
        self.recover = False
        self.written: tuple[str, str | None] | None = None
        self.children = 0

    # ---- signals and query --------------------------------------------------------------------------------------

    @workflow.signal(name="desired_status")
    def desired_status(self, value: str) -> None:
        """The user's intent; `deleted` is terminal (the API refuses changes after it, and so does this)."""
        if value in DESIRED_STATUSES and self.p.desired_status != DELETED:
            self.p.desired_status = value

    @workflow.signal(name="source_input")
    def source_input(self, event: dict[str, Any]) -> None:
        """A pushed event (e.g. a verified Stripe webhook): queued until the live lane applies it."""
        event_id = event.get("id")
        if event_id is None or all(e.get("id") != event_id for e in self.p.pending_inputs):
            self.p.pending_inputs.append(event)

    @workflow.signal(name="credentials_updated")
    def credentials_updated(self) -> None:
        """The source's or destination's credentials changed: retry what parked the pipeline."""
        self.recover = True

    @workflow.signal(name="config_updated")
    def config_updated(self) -> None:
        """The pipeline's settings changed: set up again (idempotent), then backfill what the change added."""
        self._again()

    @workflow.signal(name="deployment_updated")
    def deployment_updated(self) -> None:
        """New connector versions or workers were deployed: set up again with them, backfill, carry on."""
        self._again()

    def _again(self) -> None:
        """Retry what parked the pipeline; a running backfill and live sync stop, and a reconcile backfill follows
        setup (it reads only what the checkpoint lacks, e.g. a stream the change added). Setup runs once they
        stopped: when the destination changed, it starts the checkpoints over and a full backfill follows."""
        self.recover = True
        self.p.set_up = False
        self.p.backfilled = False

    @workflow.query(name="state")
    def state(self) -> dict[str, Any]:
        """The workflow's view, for operators and tests (the API answers from the store, never from here)."""
        return {
            "desired_status": self.p.desired_status,
            "status": self.written[0] if self.written else None,
            "pending_inputs": len(self.p.pending_inputs),
            "set_up": self.p.set_up,
            "backfilled": self.p.backfilled,
            "parked_reason": self.p.parked_reason,
            "generation": self.p.generation,
        }

    # ---- the lifecycle ----------------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, params: PipelineParams) -> None:
        while True:
            if self.p.desired_status == DELETED:
                await asyncio.shield(asyncio.ensure_future(self._teardown()))
                return
            if self._history_is_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                self.p.generation += 1
                workflow.continue_as_new(self.p)
            if self.p.parked_reason is not None:
                await self._park()
            elif self.p.desired_status == PAUSED:
                await self._write(PAUSED)
                await workflow.wait_condition(lambda: self.p.desired_status != PAUSED or self._history_is_long())
            elif not self.p.set_up:
                await self._setup()
            elif not self.p.backfilled:
                await self._backfill("backfill" if self.p.backfills == 0 else "reconcile")
            else:
                await self._ready()

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() > self.p.timing.history_limit

    async def _write(self, status: str, reason: str | None = None) -> None:
        """Record a transition in the store (once per change)."""
        if self.written == (status, reason):
            return
        # a local activity: a status write must not queue behind long sync activities on the task queue
        await workflow.execute_local_activity(
            "set_status", args=[self.p.pipeline_id, status, reason], start_to_close_timeout=STATUS_TIMEOUT
        )
        self.written = (status, reason)

    async def _park(self) -> None:
        await self._write(ERROR, self.p.parked_reason)
        await workflow.wait_condition(
            lambda: self.recover or self.p.desired_status == DELETED or self._history_is_long()
        )
        if self.recover or self.p.desired_status == DELETED:
            self.recover = False
            self.p.parked_reason = None

    async def _step(self, name: str, *args: Any) -> StepOutcome:
        """Run setup or teardown; a `system_error` that outlasts its retries comes back as a value."""
        try:
            outcome: StepOutcome = await workflow.execute_activity(
                name,
                args=[self.p.pipeline_id, *args],
                result_type=StepOutcome,
                start_to_close_timeout=STEP_TIMEOUT,
                retry_policy=_retry(self.p.timing),
            )
        except ActivityError as exc:
            return StepOutcome("system_error", _cause(exc))
        return outcome

    async def _setup(self) -> None:
        await self._write(SETUP)
        self.p.touched = True
        self.p.setups += 1  # a new epoch per attempt: connectors deployed since are asked for their specs again
        outcome = await self._step("setup_pipeline", self.p.setups)
        if outcome.status == "succeeded":
            self.p.set_up = True
            self.p.live_alongside = outcome.live_alongside
            if outcome.started_over:
                self.p.backfills = 0  # a new destination: the backfill that follows reads everything
        else:
            self.p.parked_reason = f"setup failed: {outcome.reason}"

    def _backfill_stops(self) -> bool:
        return self.p.desired_status != ACTIVE or not self.p.set_up or self.p.parked_reason is not None

    async def _backfill(self, purpose: str) -> None:
        """Run the child with the live lane beside it; a pause, delete, new settings or a parked live lane cancel
        the child (its activity stops its connectors)."""
        await self._write(BACKFILL)
        self.children += 1
        child = await workflow.start_child_workflow(
            BackfillWorkflow.run,
            BackfillParams(self.p.pipeline_id, purpose, timing=self.p.timing, epoch=self.p.setups),
            id=f"{workflow.info().workflow_id}-{purpose}-{self.p.generation}-{self.children}",
        )
        lane = asyncio.ensure_future(self._lane_beside(child)) if self.p.live_alongside else None
        await workflow.wait_condition(lambda: child.done() or self._backfill_stops())
        if not child.done():
            child.cancel()
        try:
            await child
        except (ChildWorkflowError, asyncio.CancelledError) as exc:
            if self.p.desired_status == ACTIVE and self.p.set_up and self.p.parked_reason is None:
                self.p.parked_reason = f"{purpose} failed: {_cause(exc)}"
            return
        finally:
            if lane is not None:
                await lane
        self.p.backfilled = True
        self.p.backfills += 1
        # newer wins: what the lane applied meanwhile is applied again, after every chunk committed
        replay = [e for e in self.p.replay_inputs if all(e.get("id") != p.get("id") for p in self.p.pending_inputs)]
        self.p.pending_inputs = replay + self.p.pending_inputs
        self.p.replay_inputs = []

    async def _lane_beside(self, child: workflow.ChildWorkflowHandle[Any, Any]) -> None:
        """The live lane while a backfill child runs; each applied batch is kept to be replayed after it."""
        while True:
            await workflow.wait_condition(lambda: child.done() or self._backfill_stops() or bool(self.p.pending_inputs))
            if child.done() or self._backfill_stops():
                return
            applied = await self._apply_live()
            self.p.replay_inputs += [
                e for e in applied if all(e.get("id") != r.get("id") for r in self.p.replay_inputs)
            ]

    async def _ready(self) -> None:
        """The live lane: apply queued pushed events; on the reconcile timer, backfill again."""
        await self._write(READY)
        interval = self.p.timing.reconcile_interval_s
        try:
            await workflow.wait_condition(
                lambda: (
                    bool(self.p.pending_inputs)
                    or self.p.desired_status != ACTIVE
                    or not self.p.set_up
                    or self._history_is_long()
                ),
                timeout=timedelta(seconds=interval) if interval else None,
            )
        except TimeoutError:
            self.p.backfilled = False  # the reconcile backfill runs next
            return
        if self.p.desired_status != ACTIVE or not self.p.set_up or not self.p.pending_inputs or self._history_is_long():
            return
        await self._apply_live()

    async def _apply_live(self) -> list[dict[str, Any]]:
        """One live sync of the oldest queued events; they leave the queue only once applied (returned)."""
        batch = list(self.p.pending_inputs[:LIVE_BATCH])
        handle = workflow.start_activity(
            "sync_pipeline",
            SyncRequest(self.p.pipeline_id, LIVE, inputs=batch, epoch=self.p.setups),
            result_type=SyncOutcome,
            **_sync_options(self.p.timing),
        )
        # new settings stop it too: setup must follow it, and it may target the destination they replaced
        await workflow.wait_condition(lambda: handle.done() or self.p.desired_status != ACTIVE or not self.p.set_up)
        if not handle.done():
            handle.cancel()
        try:
            outcome: SyncOutcome = await handle
        except asyncio.CancelledError:
            return []  # paused, deleted or set up again mid-run: the batch stays queued
        except ActivityError as exc:
            self.p.parked_reason = self.p.parked_reason or f"live sync failed: {_cause(exc)}"
            return []
        if outcome.status == ERROR:
            self.p.parked_reason = self.p.parked_reason or f"live sync failed: {outcome.reason}"
            return []
        if not outcome.inputs_applied:
            return []
        # signals only ever append, and nothing else takes from the queue while this batch runs
        self.p.pending_inputs = self.p.pending_inputs[len(batch) :]
        return batch

    async def _teardown(self) -> None:
        """Runs to the end even if the workflow is cancelled; a failure parks until a recovery signal."""
        if not self.p.touched:  # deleted before setup ever ran: the destination holds nothing of ours
            await self._write(TEARDOWN, "torn down")
            return
        while True:
            await self._write(TEARDOWN)
            outcome = await self._step("teardown_pipeline")
            if outcome.status == "succeeded":
                await self._write(TEARDOWN, "torn down")
                return
            await self._write(ERROR, f"teardown failed: {outcome.reason}")
            await workflow.wait_condition(lambda: self.recover)
            self.recover = False
