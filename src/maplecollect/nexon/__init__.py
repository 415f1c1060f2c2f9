"""Nexon Open API client: pooled HTTP, one shared smooth limiter per key, classified retries.

See docs/nexon-client.md. Modules: classify (pure outcome table), retry
(backoff policy), limiter / redis_limiter / registry (rate limiting), pause
(the pause gate), quota (daily accounting), bodies (cheap msgspec checks),
client (NexonClient), metrics, fingerprint.
"""

from maplecollect.nexon.bodies import (
    RankingRow,
    check_json,
    check_ranking_page,
    decode_error,
    is_empty_character,
    ocid_of,
    ranking_rows,
)
from maplecollect.nexon.classify import Action, classify
from maplecollect.nexon.client import ApiResponse, NexonClient, Timeouts
from maplecollect.nexon.fingerprint import api_key_fingerprint
from maplecollect.nexon.limiter import AdaptiveRate, GcraLimiter, RateLimiter
from maplecollect.nexon.pause import PausePolicy
from maplecollect.nexon.quota import DailyQuota, shared_quota
from maplecollect.nexon.redis_limiter import RedisGcraLimiter
from maplecollect.nexon.registry import close_shared_limiters, shared_limiter
from maplecollect.nexon.retry import RetryPolicy

__all__ = [
    "Action",
    "AdaptiveRate",
    "ApiResponse",
    "DailyQuota",
    "GcraLimiter",
    "NexonClient",
    "PausePolicy",
    "RankingRow",
    "RateLimiter",
    "RedisGcraLimiter",
    "RetryPolicy",
    "Timeouts",
    "api_key_fingerprint",
    "check_json",
    "check_ranking_page",
    "classify",
    "close_shared_limiters",
    "decode_error",
    "is_empty_character",
    "ocid_of",
    "ranking_rows",
    "shared_limiter",
    "shared_quota",
]
