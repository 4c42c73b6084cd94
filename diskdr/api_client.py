"""A small client of diskdr's HTTP API, for the operator commands of ``diskdr``.

It sends the function key as ``x-functions-key`` (never in the URL, so it stays out of
proxy logs) and turns every way a call can go wrong into an :class:`ApiCallError` with a
message for a person and the command's exit status: 2 when the caller got something wrong
(a malformed URL, a URL that is not diskdr, a wrong key, an unknown id, a refused
request), 1 when the operation failed (the app cannot be reached, or it failed: 5xx).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

EXIT_FAILED = 1
EXIT_INVALID = 2


class ApiCallError(Exception):
    """A call to the API did not succeed; ``exit_code`` is what the command exits with."""

    def __init__(
        self, message: str, exit_code: int, status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class ApiClient:
    """Calls ``{url}/api/...`` of one diskdr app with one function key."""

    def __init__(self, url: str, key: str | None, timeout: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiCallError(
                f"--url: expected the app's URL, such as https://<app>.azurewebsites.net, "
                f"got {url!r}",
                EXIT_INVALID,
            )
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.key = key
        self.timeout = timeout

    def get(self, path: str, **query: str) -> Answer:
        return self.call("GET", path, query=query)

    def post(self, path: str, body: Any) -> Answer:
        return self.call("POST", path, body=body)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
    ) -> Answer:
        """One call; the answer when it is 2xx, else :class:`ApiCallError`.

        ``path`` is ``/api/...`` or a full URL the API handed out (a status URL).
        """
        url = path if path.startswith(("http://", "https://")) else self.url + path
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.key:
            request.add_header("x-functions-key", self.key)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Answer(response.status, _decode(response.read()), dict(response.headers))
        except urllib.error.HTTPError as error:
            raise self._refused(method, url, error.code, _decode(error.read())) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise ApiCallError(
                f"cannot reach diskdr at {self.url}: {reason} (check --url or DISKDR_URL)",
                EXIT_FAILED,
            ) from None

    def _refused(self, method: str, url: str, status: int, body: Any) -> ApiCallError:
        path = urllib.parse.urlsplit(url).path
        if status == 401:
            which = "no function key was given" if not self.key else "the function key is wrong"
            return ApiCallError(
                f"{which} for {self.url} (401; pass --key or set DISKDR_KEY)",
                EXIT_INVALID,
                status,
            )
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            # Not diskdr's JSON error: another site, or a route this app does not have.
            return ApiCallError(
                f"{method} {path} answered {status} without a diskdr error: is {self.url} a "
                "diskdr app? (check --url or DISKDR_URL)",
                EXIT_INVALID if status < 500 else EXIT_FAILED,
                status,
            )
        code = str(error.get("code") or "Error")
        message = f"{code}: {error.get('message', '')}"
        if error.get("requestId"):
            message += f" (Azure request id {error['requestId']})"
        return ApiCallError(message, EXIT_INVALID if status < 500 else EXIT_FAILED, status, code)


def _decode(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")
