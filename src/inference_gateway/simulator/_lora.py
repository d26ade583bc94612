"""GPU LoRA slots: at most ``max_loras`` adapters resident, least recently used swapped out.

An adapter stays resident after its last running request finishes, so a later request for
it loads nothing. A request for a non-resident adapter can only be scheduled if a slot is
free or held by an adapter with no running request; otherwise it waits (vLLM's scheduler
skips it and serves the requests behind it).
"""

from __future__ import annotations

from collections import OrderedDict


class LoraSlots:
    __slots__ = ("_users", "max_loras")

    def __init__(self, max_loras: int) -> None:
        self.max_loras = max_loras
        self._users: OrderedDict[str, int] = OrderedDict()

    @property
    def resident(self) -> list[str]:
        return list(self._users)

    @property
    def running(self) -> list[str]:
        return [a for a, users in self._users.items() if users > 0]

    def fits(self, adapter: str) -> bool:
        users = self._users
        if adapter in users or len(users) < self.max_loras:
            return True
        return any(n == 0 for n in users.values())

    def acquire(self, adapter: str) -> bool:
        """Count one running user; True when the adapter had to be loaded."""
        users = self._users
        if adapter in users:
            users[adapter] += 1
            users.move_to_end(adapter)
            return False
        if len(users) >= self.max_loras:
            idle = next(a for a, n in users.items() if n == 0)
            del users[idle]
        users[adapter] = 1
        return True

    def release(self, adapter: str) -> None:
        if adapter in self._users:
            self._users[adapter] -= 1

    def drop_if_idle(self, adapter: str) -> None:
        if self._users.get(adapter) == 0:
            del self._users[adapter]
