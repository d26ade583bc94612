"""The scrape driver's due-time queue: order, wake-up on an earlier push, stale entries."""

from __future__ import annotations

import asyncio

from inference_gateway.aio import stop
from inference_gateway.modelserver._due import DueQueue
from tests.loop_helpers import until


async def test_items_start_in_due_order_however_they_were_pushed() -> None:
    queue: DueQueue[str] = DueQueue(batch=0.001)
    started: list[str] = []
    now = asyncio.get_running_loop().time()
    for name, delay in (("late", 0.06), ("soon", 0.03), ("now", 0.0)):
        queue.push(name, now + delay)
    task = asyncio.create_task(queue.run(started.append))
    try:
        await until(lambda: len(started) == 3)
        assert started == ["now", "soon", "late"]
        assert len(queue) == 0
    finally:
        await stop(task)


async def test_an_earlier_push_wakes_a_queue_sleeping_on_a_later_item() -> None:
    queue: DueQueue[str] = DueQueue(batch=0.001)
    started: list[str] = []
    loop = asyncio.get_running_loop()
    queue.push("in an hour", loop.time() + 3600)
    task = asyncio.create_task(queue.run(started.append))
    try:
        await asyncio.sleep(0)  # one turn: the task runs its first step, asleep on the far item
        queue.push("now", loop.time())
        await until(lambda: started == ["now"])
        assert len(queue) == 1
    finally:
        await stop(task)
    assert task.done()


async def test_items_due_within_the_batch_start_together() -> None:
    queue: DueQueue[int] = DueQueue(batch=3600)
    started: list[int] = []
    now = asyncio.get_running_loop().time()
    for i in range(5):
        queue.push(i, now + 60 * i)  # all within the hour's batch
    task = asyncio.create_task(queue.run(started.append))
    try:
        await until(lambda: len(started) == 5)
        assert started == [0, 1, 2, 3, 4]
    finally:
        await stop(task)
