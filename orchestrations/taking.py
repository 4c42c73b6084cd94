"""Taking points: one ``take_point`` activity per disk, in parallel, with transient
refusals (throttling, server errors) asked for again with backoff until a deadline.

Shared by ``protect_vm`` (one VM) and ``backup_cycle`` (a batch of VMs at once).
"""

import contextlib

import azure.durable_functions as df

from activities.points import take_point
from diskdr.backup import DiskOutcome
from orchestrations.waiting import FIRST_DELAY, next_delay, sleep_until

# How many times a transiently refused point is asked for again (within the deadline).
TRANSIENT_ATTEMPTS = 5

# Retries only for unexpected activity failures (a worker crash, a bug); Azure errors come
# back as results, and the SDK has already retried throttling and transient errors.
ACTIVITY_RETRY = df.RetryOptions(
    first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3
)


def settle_all(context, tasks):
    """Wait until every task ended, as the extension's ``WhenAll`` does; the results in
    order, a failed task's exception in its place.

    The SDK's ``task_all`` fails at the first failure while the extension still awaits
    every child. Catching that and scheduling more work at once desynchronises the
    sequence numbers when a sibling is a retry task (azure-functions-durable-python#603), so
    after a failure this waits again for the tasks still running (a ``task_all`` of already
    scheduled tasks sends the extension an empty ``WhenAll``) before anything new starts.
    """
    pending = list(tasks)
    while pending:
        with contextlib.suppress(Exception):  # each failure stays in its task's result
            yield context.task_all(pending)
        pending = [task for task in tasks if not task.is_completed]
    return [task.result for task in tasks]


def task_all_settled(context, tasks):
    """``task_all`` that raises the first failure only once every task ended."""
    results = yield from settle_all(context, tasks)
    failure = next((result for result in results if isinstance(result, Exception)), None)
    if failure is not None:
        raise failure
    return results


def take_points(context, jobs, deadline):
    """Take every disk's point; points refused transiently (throttled, server errors) are
    asked for again with backoff until the group deadline, the others report at once."""
    taken = yield from task_all_settled(
        context,
        [context.call_activity_with_retry(take_point, ACTIVITY_RETRY, j.to_dict()) for j in jobs],
    )
    outcomes = [DiskOutcome.from_dict(item) for item in taken or []]
    delay = FIRST_DELAY
    for _ in range(TRANSIENT_ATTEMPTS):
        again = [n for n, o in enumerate(outcomes) if o.error is not None and o.error.transient]
        if not again or context.current_utc_datetime >= deadline:
            break
        yield from sleep_until(context, delay, deadline)
        delay = next_delay(delay)
        retaken = yield from task_all_settled(
            context,
            [
                context.call_activity_with_retry(take_point, ACTIVITY_RETRY, jobs[n].to_dict())
                for n in again
            ],
        )
        for n, item in zip(again, retaken, strict=True):
            outcomes[n] = DiskOutcome.from_dict(item)
    return outcomes
