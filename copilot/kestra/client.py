"""An async client for Kestra's REST API (1.x and 2.x): tenant-scoped routes, Basic or Bearer auth,
errors translated at this one boundary.

    async with KestraClient.from_settings(settings) as kestra:
        info = await kestra.server_info()
        results = await kestra.validate(flow_yaml)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from ..config import Settings
from ..errors import ConfigError
from .errors import KestraError, KestraRejected, KestraUnavailable, error_from_response

__all__ = ["KestraClient", "ServerInfo", "ServerValidation"]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@dataclass(frozen=True)
class ServerInfo:
    version: str
    edition: str = "OSS"

    @property
    def major(self) -> int | None:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else None


@dataclass(frozen=True)
class ServerValidation:
    """One flow's verdict from `POST /flows/validate`."""

    index: int
    flow: str | None
    namespace: str | None
    constraints: list[str] = field(default_factory=list)  # "path: message" lines; empty when valid
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    deprecation_paths: list[str] = field(default_factory=list)
    outdated: bool = False

    @property
    def valid(self) -> bool:
        return not self.constraints

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> ServerValidation:
        constraints = item.get("constraints") or ""
        return cls(
            index=int(item.get("index") or 0),
            flow=item.get("flow"),
            namespace=item.get("namespace"),
            constraints=[line for line in str(constraints).splitlines() if line.strip()],
            warnings=[str(w) for w in item.get("warnings") or []],
            infos=[str(i) for i in item.get("infos") or []],
            deprecation_paths=[str(p) for p in item.get("deprecationPaths") or []],
            outdated=bool(item.get("outdated")),
        )


class KestraClient:
    def __init__(
        self,
        url: str,
        *,
        tenant: str = "main",
        username: str | None = None,
        password: str | None = None,
        api_token: str | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"The Kestra URL must start with http:// or https://, not {url!r}.")
        self.url = url.rstrip("/")
        self.tenant = tenant
        headers = {"User-Agent": "kestra-copilot"}
        auth: httpx.Auth | None = None
        if api_token:
            headers["Authorization"] = f"Bearer {api_token}"
        elif username:
            auth = httpx.BasicAuth(username, password or "")
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, auth=auth, timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> KestraClient:
        target = url or settings.kestra_url
        if not target:
            raise ConfigError(
                "No Kestra server is configured.",
                hint="Set KESTRA_URL (e.g. http://localhost:8080) or `[kestra] url` in the config file.",
            )
        return cls(
            target,
            tenant=settings.kestra_tenant,
            username=settings.kestra_username,
            password=settings.kestra_password,
            api_token=settings.kestra_api_token,
        )

    async def __aenter__(self) -> KestraClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- plumbing -----------------------------------------------------------------------------------
    def tenant_path(self, path: str) -> str:
        return f"/api/v1/{self.tenant}/{path.lstrip('/')}"

    async def request(self, method: str, path: str, action: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise KestraUnavailable(
                f"Kestra at {self.url} did not answer in time to {action}.",
                hint="Check that the server is up and reachable, or retry.",
            ) from exc
        except httpx.TransportError as exc:
            raise KestraUnavailable(
                f"Cannot reach Kestra at {self.url} to {action}: {exc.__class__.__name__}.",
                hint="Is the server running? Check KESTRA_URL.",
            ) from exc
        if response.status_code >= 400:
            raise error_from_response(response, action)
        return response

    @staticmethod
    def _json(response: httpx.Response, action: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise KestraError(f"Kestra answered {action} with something that is not JSON.") from exc

    # --- API ----------------------------------------------------------------------------------------
    async def server_info(self) -> ServerInfo:
        """`GET /api/v1/configs`: the server's version (and a cheap credential check)."""
        body = self._json(await self.request("GET", "/api/v1/configs", "read the server version"), "configs")
        if not isinstance(body, dict):
            raise KestraError("Kestra's /api/v1/configs answer has an unexpected shape.")
        return ServerInfo(version=str(body.get("version") or "unknown"), edition=str(body.get("edition") or "OSS"))

    async def validate(self, flow_yaml: str) -> list[ServerValidation]:
        """`POST /flows/validate`: the server's strict parse, plugin-default injection and bean validation."""
        response = await self.request(
            "POST",
            self.tenant_path("flows/validate"),
            "validate the flow",
            content=flow_yaml.encode(),
            headers={"Content-Type": "application/x-yaml"},
        )
        body = self._json(response, "validate")
        if not isinstance(body, list):
            raise KestraRejected("Kestra's validation answer is not a list of results.")
        return [ServerValidation.from_json(item) for item in body if isinstance(item, dict)]

    # --- plugins and blueprints (the retrieval corpus of a connected server) ------------------------
    async def plugins(self) -> list[dict[str, Any]]:
        """`GET /api/v1/plugins`: every installed plugin with its task, trigger, condition … classes."""
        body = self._json(await self.request("GET", "/api/v1/plugins", "list the installed plugins"), "plugins")
        return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []

    async def plugin_markdown(self, cls: str) -> str:
        """`GET /api/v1/plugins/{cls}`: the class's documentation page as Markdown."""
        response = await self.request("GET", f"/api/v1/plugins/{cls}", f"read the documentation of {cls}")
        body = self._json(response, "plugin documentation")
        return str(body.get("markdown") or "") if isinstance(body, dict) else ""

    async def community_blueprints(self, *, page_size: int = 100) -> list[dict[str, Any]]:
        """Every community flow blueprint's summary (id, title, description, tags), all pages."""
        path = self.tenant_path("blueprints/community/flow")
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"page": page, "size": page_size}
            body = self._json(await self.request("GET", path, "list the blueprints", params=params), "blueprints")
            results = body.get("results") if isinstance(body, dict) else None
            if not results:
                return items
            items.extend(r for r in results if isinstance(r, dict))
            if len(items) >= int(body.get("total") or 0) or len(results) < page_size:
                return items
            page += 1

    async def blueprint_source(self, blueprint_id: str) -> str:
        """A community flow blueprint's YAML."""
        path = self.tenant_path(f"blueprints/community/flow/{blueprint_id}/source")
        return (await self.request("GET", path, f"read blueprint {blueprint_id}")).text
