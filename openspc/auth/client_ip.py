"""The client address used as the rate-limit key."""

from flask import request


def client_ip() -> str:
    """The socket peer, or the first hop of ``X-Forwarded-For`` when ProxyFix is configured.

    ``create_app`` wraps the app in ProxyFix only when ``OPENSPC_TRUSTED_PROXIES`` > 0, so a
    client cannot spoof its address by sending the header itself.
    """
    return request.remote_addr or "unknown"
