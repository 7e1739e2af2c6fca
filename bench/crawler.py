"""The classic asyncio + aiohttp crawler that Fanout is compared with.

A queue with C workers, one shared session, a per-request timeout, and tenacity
retries (3 attempts, exponential backoff 1-10 s), as the seed's crawler does it.

    python crawler.py --concurrency 50 --timeout 10 < urls.txt

Prints one JSON line: {"ok": n, "failed": n, "elapsed_ms": t}.
"""

import argparse
import asyncio
import json
import sys
import time

import aiohttp
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential


class Retryable(Exception):
    """A status worth retrying (the same set Fanout retries)."""


RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


@retry(
    stop=stop_after_attempt(3),
    wait=wait_exponential(multiplier=1, min=1, max=10),
    retry=retry_if_exception_type((aiohttp.ClientError, asyncio.TimeoutError, Retryable)),
    reraise=True,
)
async def fetch(session: aiohttp.ClientSession, url: str, timeout: float) -> int:
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        body = await resp.read()
        if resp.status in RETRYABLE:
            raise Retryable(resp.status)
        return len(body)


async def worker(queue: asyncio.Queue, session, timeout: float, results: dict) -> None:
    while True:
        url = await queue.get()
        try:
            await fetch(session, url, timeout)
            results["ok"] += 1
        except Exception:  # noqa: BLE001 - every failure is counted, none stops the crawl
            results["failed"] += 1
        finally:
            queue.task_done()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    urls = [line.strip() for line in sys.stdin if line.strip()]
    queue: asyncio.Queue = asyncio.Queue()
    for u in urls:
        queue.put_nowait(u)
    results = {"ok": 0, "failed": 0}
    # No connection cap below the worker count, like a typical crawler.
    connector = aiohttp.TCPConnector(limit=args.concurrency, limit_per_host=args.concurrency)
    start = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        workers = [asyncio.create_task(worker(queue, session, args.timeout, results)) for _ in range(args.concurrency)]
        await queue.join()
        for w in workers:
            w.cancel()
    results["elapsed_ms"] = round((time.perf_counter() - start) * 1000, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
