"""The standalone source: one multi-document YAML file of Kubernetes objects, hot-reloaded.

The file holds pools, models (either generation), objectives, rewrites and ``v1/Pod``
objects standing for model servers. Every successful load makes the datastore equal to the
file (``Datastore.sync_steps``): only what changed is touched, each object is either old or
new, and a big change is applied a few hundred pods at a time with the loop free in between.
Reading and parsing run in a worker thread (a file of 5,000 Pods is seconds of YAML), so
neither ever holds the event loop. An edit that does not parse or validate is logged (the
message names the object, the field and the broken rule) and the last good state stays in
force; so does a file that cannot be read for a while (permissions, out of descriptors, a
half-written encoding), and the watch goes on.

Editors save by writing a temporary file and renaming it over the original, which a
watch on the file itself would lose after the first save; so the parent directory is
watched and events are filtered by name. A ConfigMap volume swaps a ``..data`` symlink
instead, which never names the file, so every quiet ``poll_interval`` the file is also
compared byte for byte with what was last loaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import watchfiles
import yaml

from inference_gateway.aio import spawn, stop
from inference_gateway.api import ObjectError, UnknownKindError, iter_documents
from inference_gateway.datastore import Datastore, DesiredState
from inference_gateway.sources.convert import desired_state

log = logging.getLogger(__name__)

# Rename-replace produces a burst of events within a few ms; 50 ms groups them without
# making a reload feel slow, and 200 ms caps how long a stream of writes can defer it.
_STEP_MS = 50
_DEBOUNCE_MS = 200
# Setting up an inotify watch takes microseconds; seconds mean something is wrong.
_START_TIMEOUT = 10.0


class _StopSignal:
    """The stop event handed to the watcher thread, which polls it every step.

    Its first poll proves the watch is registered, so it also sets ``armed``; from then on
    no edit can go unnoticed.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        self._stopped = False
        self._polled = False
        self.armed = asyncio.Event()

    def is_set(self) -> bool:
        if not self._polled and self._loop is not None:
            self._polled = True
            self._loop.call_soon_threadsafe(self.armed.set)
        return self._stopped

    def set(self) -> None:
        self._stopped = True


PLUGINS_KIND = "EndpointPickerConfig"
"""Not an object for the datastore: the scheduler's configuration, read once at start."""


def _warn_unknown(error: UnknownKindError) -> None:
    if error.kind != PLUGINS_KIND:
        log.warning("%s: skipped", error)


def plugins_document(text: str) -> str | None:
    """The EndpointPickerConfig document in a standalone config, as YAML text, if any."""
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == PLUGINS_KIND:
            return yaml.safe_dump(doc, sort_keys=False)
    return None


def parse_text(text: str) -> DesiredState:
    """Turn the file's text into a desired state; raises ``ObjectError`` with the location."""
    return desired_state(iter_documents(text, on_unknown=_warn_unknown))


def load_file(path: str | Path) -> DesiredState:
    """Read and validate the file (blocking; for CLI commands and tests).

    Raises ``FileNotFoundError`` for a missing file and ``ObjectError`` for bad content.
    """
    return parse_text(Path(path).read_text(encoding="utf-8"))


class FileSource:
    """Keeps the datastore equal to a YAML file for as long as the context is entered.

    ``reloads`` counts successful loads after the first one and ``errors`` counts rejected
    edits; both change under the ``changed`` condition, so tests can await a reload with
    ``await source.wait_until(lambda: source.reloads >= 1)`` under ``asyncio.timeout``.
    """

    def __init__(
        self,
        path: str | Path,
        datastore: Datastore,
        *,
        on_error: Callable[[Exception], None] | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.path = Path(path).absolute()
        self._datastore = datastore
        self._on_error = on_error
        self._poll_ms = max(int(poll_interval * 1000), _STEP_MS)
        self._last_text: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = _StopSignal(None)
        self.reloads = 0
        self.errors = 0
        self.last_error: Exception | None = None
        self.changed = asyncio.Condition()
        self._reloading = asyncio.Lock()

    async def __aenter__(self) -> FileSource:
        text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        await self._apply(await asyncio.to_thread(parse_text, text))
        self._last_text = text
        self._datastore.mark_synced()
        log.info("loaded %s", self.path)
        self._stop = _StopSignal(asyncio.get_running_loop())
        self._task = spawn(self._watch(), name=f"file-source:{self.path.name}", forever=False)
        async with asyncio.timeout(_START_TIMEOUT):
            await self._stop.armed.wait()
        if self._task.done():
            await self.__aexit__(None, None, None)
            raise RuntimeError(f"cannot watch {self.path.parent}")
        # An edit made before the watcher was armed has no event; look once more.
        await self.reload()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is None:
            return
        task, self._task = self._task, None
        self._stop.set()
        # The watcher thread sees the stop event within one step; cancel only as a fallback.
        done, _ = await asyncio.wait({task}, timeout=(_STEP_MS * 20) / 1000)
        if not done:
            await stop(task)
        elif not task.cancelled():
            task.exception()  # already logged by spawn; retrieved so asyncio stays quiet

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds after some reload attempt (bound it by a timeout)."""
        async with self.changed:
            await self.changed.wait_for(predicate)

    async def reload(self) -> bool:
        """Load the file now if its content changed; True if the datastore was updated.

        One reload at a time: a reload is applied in steps with awaits between them, and
        two interleaved (the watcher's and the one ``__aenter__`` makes) could leave a mix.
        """
        async with self._reloading:
            return await self._reload()

    async def _reload(self) -> bool:
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            # Mid rename-replace, deleted, unreadable for now (permissions, EMFILE) or caught
            # half-written: the last good state stays, and the next event or poll looks again.
            # Told once per run of failures; the first good read after it loads again.
            if self._last_text is not None:
                self._last_text = None
                await self._rejected(e)
            return False
        if text == self._last_text:
            return False
        self._last_text = text
        try:
            state = await asyncio.to_thread(parse_text, text)
        except ObjectError as e:
            await self._rejected(e)
            return False
        await self._apply(state)
        self.reloads += 1
        log.info("reloaded %s (%d pools, %d pods)", self.path, len(state.pools), len(state.pods))
        await self._notify()
        return True

    async def _apply(self, state: DesiredState) -> None:
        for _ in self._datastore.sync_steps(state):
            await asyncio.sleep(0)

    async def _rejected(self, error: Exception) -> None:
        self.errors += 1
        self.last_error = error
        log.error("%s: keeping the last good state: %s", self.path, error)
        if self._on_error is not None:
            self._on_error(error)
        await self._notify()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def _watch(self) -> None:
        try:
            while True:
                try:
                    await self._watch_changes()
                    return
                except Exception as e:
                    if not self._stop.armed.is_set():
                        raise  # never watched: ``__aenter__`` reports it
                    # The watch itself or a reload broke (out of descriptors, a bug): the
                    # last good state stays and the file is watched and read again.
                    await self._rejected(e)
                    await asyncio.sleep(self._poll_ms / 1000)
                    await self.reload()
        finally:
            self._stop.armed.set()

    async def _watch_changes(self) -> None:
        name = self.path.name

        def ours(_change: watchfiles.Change, changed_path: str) -> bool:
            return Path(changed_path).name == name

        async for _changes in watchfiles.awatch(
            self.path.parent,
            watch_filter=ours,
            stop_event=self._stop,
            debounce=_DEBOUNCE_MS,
            step=_STEP_MS,
            rust_timeout=self._poll_ms,
            yield_on_timeout=True,
            recursive=False,
        ):
            await self.reload()
