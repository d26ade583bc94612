"""How a refresh loop gets one metrics body, whichever HTTP client carries it.

Both clients cap the body as inflated, not only as sent: aiohttp's own decompression is off
and a gzip body goes through the lean client's incremental ``Gunzip``, which stops at the cap.
Both clients report every failure as a ``ScrapeFailure`` with a short reason (the label of the
errors counter); a fetch that takes longer than the fetcher's ``timeout`` raises ``TimeoutError``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp
import yarl

from inference_gateway.modelserver._http import BodyTooLarge, Gunzip, HTTPError, LeanClient

USER_AGENT = "inference-gateway-epp"


class ScrapeFailure(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Fetcher(Protocol):
    async def fetch(self) -> bytes: ...

    def close(self) -> None: ...


class AiohttpFetchers:
    """One shared ``ClientSession``: pooled keep-alive connections, http or https."""

    def __init__(
        self,
        *,
        limit_per_host: int,
        gzip: bool,
        max_body: int,
        timeout: float,
        verify_tls: bool = True,
    ) -> None:
        self._max_body = max_body
        self._timeout = timeout
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=limit_per_host, ssl=verify_tls),
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=False,
            headers={
                "Accept": "text/plain",
                "Accept-Encoding": "gzip" if gzip else "identity",
                "User-Agent": USER_AGENT,
            },
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    def fetcher(self, url: str) -> Fetcher:
        return _AiohttpFetcher(self._session, yarl.URL(url), self._max_body, self._timeout)

    async def close(self) -> None:
        await self._session.close()


class _AiohttpFetcher:
    def __init__(
        self, session: aiohttp.ClientSession, url: yarl.URL, max_body: int, timeout: float
    ) -> None:
        self._session = session
        self._url = url
        self._max_body = max_body
        self._timeout = timeout

    async def fetch(self) -> bytes:
        try:
            async with asyncio.timeout(self._timeout), self._session.get(self._url) as resp:
                if resp.status != 200:
                    raise ScrapeFailure("http_status", f"HTTP {resp.status}")
                return await _read_capped(resp, self._max_body)
        except TimeoutError:
            raise
        except aiohttp.ClientConnectionError as e:
            raise ScrapeFailure("connection", str(e) or type(e).__name__) from e
        except aiohttp.ClientError as e:
            raise ScrapeFailure("http", str(e) or type(e).__name__) from e

    def close(self) -> None:
        pass


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """The body, refusing more than ``cap`` bytes as sent or as inflated, read as it comes."""
    if resp.content_length is not None and resp.content_length > cap:
        raise ScrapeFailure("too_large", f"body of {resp.content_length} bytes")
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise ScrapeFailure("http", f"unsupported Content-Encoding {encoding[:20]!r}")
    inflater = Gunzip(cap) if encoding == "gzip" else None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > cap:
                raise ScrapeFailure("too_large", f"body over {cap} bytes")
            if inflater is not None:
                inflater.feed(chunk)
            else:
                chunks.append(chunk)
        return inflater.finish() if inflater is not None else b"".join(chunks)
    except BodyTooLarge as e:
        raise ScrapeFailure("too_large", str(e)) from e
    except HTTPError as e:
        raise ScrapeFailure("http", str(e)) from e


class LeanFetcher:
    """One ``LeanClient`` connection per endpoint (plain http)."""

    def __init__(
        self, host: str, port: int, path: str, *, gzip: bool, max_body: int, timeout: float
    ) -> None:
        self._client = LeanClient(host, port, path, gzip=gzip, max_body=max_body, timeout=timeout)

    async def fetch(self) -> bytes:
        try:
            status, body = await self._client.get()
        except TimeoutError:
            raise
        except OSError as e:
            raise ScrapeFailure("connection", str(e) or type(e).__name__) from e
        except BodyTooLarge as e:
            raise ScrapeFailure("too_large", str(e)) from e
        except HTTPError as e:
            raise ScrapeFailure("http", str(e)) from e
        if status != 200:
            raise ScrapeFailure("http_status", f"HTTP {status}")
        return body

    def close(self) -> None:
        self._client.close()
