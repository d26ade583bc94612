"""Timings of the Kubernetes source; the defaults are sized for a real API server."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KubeSettings:
    # Between failed list/watch cycles; the last step repeats for as long as it takes.
    watch_backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
    # Between attempts of one request; len + 1 attempts in all, then the caller sees the error.
    request_backoff: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    # API servers end watches after timeoutSeconds; asking for ~5 min keeps them rotating.
    watch_timeout: int = 300
    # A stream silent for longer than this is presumed dead (bookmarks arrive every ~1 min).
    inactivity_timeout: float = 330.0
    # An optional CRD that is not installed is looked for again this often.
    missing_crd_retry: float = 60.0
    # Connect timeout for every request; reads are bounded by the inactivity timeout.
    connect_timeout: float = 10.0
    # Objects per LIST page (``limit``/``continue``). Each page is decoded in one go on the
    # loop: 100 Pods of ~2-8 KB (managedFields included) are 0.2-0.8 MB of JSON, ~2-10 ms on
    # a busy 2-core box, and a page's raw objects are garbage before the next page arrives.
    # client-go's reflector asks for 500. ``bench pool-load`` at 5,000 Pods: with 250 the
    # longest stall was 30-57 ms (25-36 ms of loop CPU), with 100 21-24 ms (19-21 ms), for
    # 50 requests instead of 20 and the same total time.
    list_page_size: int = 100
