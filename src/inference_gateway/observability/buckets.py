"""Histogram buckets, exactly as upstream's EPP defines them (``pkg/epp/metrics/metrics.go``).

Keeping them identical lets dashboards and alerts written for the Go EPP work unchanged.
"""

from __future__ import annotations

REQUEST_DURATION = (
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0,
    8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 180.0, 240.0, 300.0, 360.0, 480.0,
    600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
)  # fmt: skip
REQUEST_SIZES = tuple(float(64 * 2**i) for i in range(25))
"""64 B to 1 GiB, doubling."""
RESPONSE_SIZES = (
    1.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0,
    16384.0, 32778.0, 65536.0,
)  # fmt: skip
"""32778 (not 32768) is upstream's own typo, kept so the series match."""
INPUT_TOKENS = (
    1.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0,
    32778.0, 65536.0, 131072.0, 262144.0, 524288.0, 1048576.0,
)  # fmt: skip
"""1, 8, 16, ... 1048576, with upstream's 32778 (input_tokens and prompt_cached_tokens)."""
OUTPUT_TOKENS = (1.0, *(float(2**i) for i in range(3, 14)))
"""1, 8, 16, ... 8192."""
NTPOT = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
SCHEDULER = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
TPOT = (
    0.0005, 0.00205, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.125, 0.15, 0.2, 0.3, 0.4,
    0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 4.5, 6.0, 12.0, 18.0, 24.0, 30.0, 36.0, 48.0, 60.0,
    90.0, 120.0, 180.0, 270.0, 360.0,
)  # fmt: skip
"""The predicted-latency families' time per output token, 0.5 ms to 6 min."""
