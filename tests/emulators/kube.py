"""Emulator of the Kubernetes API server, as far as the state store uses it.

Serves ConfigMaps and Leases, namespaced, in the API server's JSON shapes::

    /api/v1/namespaces/{ns}/configmaps[/{name}]
    /apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}]

- ``GET`` (one, or a list with ``metadata.resourceVersion``), ``POST`` (create; an existing
  name → 409 ``AlreadyExists``), ``PUT`` (replace), ``PATCH`` (``application/merge-patch+json``,
  ``application/strategic-merge-patch+json``, ``application/json-patch+json``; server-side
  apply → 415), ``DELETE``. A missing object → 404 ``NotFound``.
- ``metadata.resourceVersion`` works like the real one: one counter for the whole store
  (etcd's revision), a new value on every write, returned as a string. A ``PUT`` or
  ``PATCH`` whose object (after patching) carries a ``resourceVersion`` other than the
  stored one → 409 ``Conflict`` with the API server's message; none → unconditional.
- ``?dryRun=All`` checks everything and persists nothing.
- Validation (422 ``Invalid``): object names are DNS subdomains; ConfigMap data keys and
  the 1 MiB limit on ``data`` + ``binaryData``; Lease ``leaseDurationSeconds`` > 0 and
  ``acquireTime``/``renewTime`` in RFC 3339 with microseconds.
- Every error is a ``Status`` object (``kind: Status``, ``reason``, ``code``, ``details``).

Test controls (plain Python, from the test's thread): ``token`` (bearer token required,
else 401), `KubeEmulator.forbid` (403 for a verb on a resource), `KubeEmulator.before`
(run a callback before a request is handled, e.g. to change the object between a
client's read and its write), `KubeEmulator.get`/`put`/`delete` (the store, bypassing
HTTP), and ``requests`` (what was asked and answered).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Obj = dict[str, Any]

CONFIGMAP_MAX_BYTES = 1_048_576
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_CONFIGMAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_MICROTIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_MERGE = "application/merge-patch+json"
_STRATEGIC = "application/strategic-merge-patch+json"
_JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Kind:
    plural: str
    kind: str
    group: str  # "" for the core group
    version: str = "v1"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``configmaps`` / ``leases.coordination.k8s.io``, as the API server's messages say."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


CONFIGMAPS = Kind("configmaps", "ConfigMap", "")
LEASES = Kind("leases", "Lease", "coordination.k8s.io")
KINDS = {CONFIGMAPS.plural: CONFIGMAPS, LEASES.plural: LEASES}


@dataclass
class KubeRequest:
    """One request as the emulator saw it (``status`` once answered)."""

    verb: str  # get, list, create, update, patch, delete
    plural: str
    namespace: str
    name: str | None
    body: Any = None
    content_type: str = ""
    dry_run: bool = False
    status: int = 0


@dataclass
class _Hook:
    verb: str
    plural: str
    callback: Callable[[KubeRequest], None]
    times: int | None  # None: every time


class ApiStatus(Exception):
    """An error answer; `response` renders it as a ``Status``."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        kind: Kind | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.kind = kind
        self.name = name

    def response(self) -> JSONResponse:
        details: Obj = {}
        if self.name is not None:
            details["name"] = self.name
        if self.kind is not None:
            details["kind"] = self.kind.plural
            if self.kind.group:
                details["group"] = self.kind.group
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            body["details"] = details
        return JSONResponse(body, status_code=self.code)


def _not_found(kind: Kind, name: str) -> ApiStatus:
    return ApiStatus(404, "NotFound", f'{kind.qualified} "{name}" not found', kind=kind, name=name)


def _invalid(kind: Kind, name: str, problems: list[str]) -> ApiStatus:
    return ApiStatus(
        422,
        "Invalid",
        f'{kind.kind} "{name}" is invalid: ' + ", ".join(problems),
        kind=kind,
        name=name,
    )


def _conflict(kind: Kind, name: str) -> ApiStatus:
    return ApiStatus(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        kind=kind,
        name=name,
    )


def _bad_request(message: str) -> ApiStatus:
    return ApiStatus(400, "BadRequest", message)


# -- patches ------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge recursively, ``null`` deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge patch for types without merge-keyed lists (ConfigMap, Lease): a merge
    patch plus the ``$patch: replace|delete`` directive on maps."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    rest = {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: strategic_merge_patch(None, v) for k, v in rest.items() if v is not None}
    if directive is not None:
        raise _bad_request(f"unknown patch directive {directive!r}")
    for key in rest:
        if key.startswith("$"):
            raise _bad_request(f"unsupported strategic merge patch directive {key!r}")
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in rest.items():
        if value is None:
            out.pop(key, None)
            continue
        merged = strategic_merge_patch(out.get(key), value)
        if merged is None:
            out.pop(key, None)
        else:
            out[key] = merged
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise _bad_request(f"JSON pointer part {part!r} not found")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise _bad_request("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)

    def put(parts: list[str], value: Any, *, insert: bool) -> None:
        nonlocal doc
        if not parts:
            doc = value
            return
        parent = _walk(doc, parts[:-1])
        last = parts[-1]
        if isinstance(parent, dict):
            if not insert and last not in parent:
                raise _bad_request(f"replace: {last!r} not found")
            parent[last] = value
        elif isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if insert:
                parent.insert(index, value)
            else:
                parent[index] = value
        else:
            raise _bad_request("JSON patch path does not lead into an object or list")

    def take(parts: list[str]) -> Any:
        if not parts:
            raise _bad_request("cannot remove the whole document")
        parent = _walk(doc, parts[:-1])
        last = parts[-1]
        if isinstance(parent, dict) and last in parent:
            return parent.pop(last)
        if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
            return parent.pop(int(last))
        raise _bad_request(f"remove: {last!r} not found")

    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise _bad_request(f"malformed JSON patch operation {op!r}")
        parts = _pointer(op["path"])
        match op["op"]:
            case "add":
                put(parts, copy.deepcopy(op.get("value")), insert=True)
            case "replace":
                put(parts, copy.deepcopy(op.get("value")), insert=False)
            case "remove":
                take(parts)
            case "move":
                put(parts, take(_pointer(op["from"])), insert=True)
            case "copy":
                put(parts, copy.deepcopy(_walk(doc, _pointer(op["from"]))), insert=True)
            case "test":
                if _walk(doc, parts) != op.get("value"):
                    raise ApiStatus(422, "Invalid", f"test operation failed at {op['path']!r}")
            case other:
                raise _bad_request(f"unknown JSON patch operation {other!r}")
    return doc


# -- validation ---------------------------------------------------------------------------


def _validate(kind: Kind, obj: Obj) -> None:
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    problems: list[str] = []
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        problems.append(
            f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
            "consist of lower case alphanumeric characters, '-' or '.', and must start and "
            "end with an alphanumeric character"
        )
    if kind is CONFIGMAPS:
        data = obj.get("data") or {}
        binary = obj.get("binaryData") or {}
        if not isinstance(data, dict) or not isinstance(binary, dict):
            problems.append("data: Invalid value: must be a map of strings")
        else:
            size = 0
            for key, value in [*data.items(), *binary.items()]:
                if len(key) > 253 or not _CONFIGMAP_KEY.fullmatch(key):
                    problems.append(
                        f'data[{key}]: Invalid value: "{key}": a valid config key must '
                        "consist of alphanumeric characters, '-', '_' or '.'"
                    )
                if not isinstance(value, str):
                    problems.append(f"data[{key}]: Invalid value: must be a string")
                    continue
                size += len(key.encode()) + len(value.encode())
            if size > CONFIGMAP_MAX_BYTES:
                problems.append(f"[]: Too long: may not be more than {CONFIGMAP_MAX_BYTES} bytes")
    if kind is LEASES:
        spec = obj.get("spec") or {}
        duration = spec.get("leaseDurationSeconds")
        if duration is not None and (
            not isinstance(duration, int) or isinstance(duration, bool) or duration <= 0
        ):
            problems.append(
                f"spec.leaseDurationSeconds: Invalid value: {duration!r}: must be greater than 0"
            )
        for stamp in ("acquireTime", "renewTime"):
            value = spec.get(stamp)
            if value is not None and (
                not isinstance(value, str) or not _MICROTIME.fullmatch(value)
            ):
                problems.append(f"spec.{stamp}: Invalid value: {value!r}: not an RFC 3339 time")
        holder = spec.get("holderIdentity")
        if holder is not None and not isinstance(holder, str):
            problems.append("spec.holderIdentity: Invalid value: must be a string")
    if problems:
        raise _invalid(kind, name, problems)


# -- the emulator -------------------------------------------------------------------------


class KubeEmulator:
    """ConfigMaps and Leases behind the Kubernetes API's URLs; see the module docstring."""

    def __init__(
        self, *, token: str | None = None, user: str = "system:serviceaccount:x:y"
    ) -> None:
        self.token = token
        """When set, requests need ``Authorization: Bearer <token>`` (else 401)."""
        self.user = user
        """The user named in 403 messages."""
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str, str], Obj] = {}
        self._revision = 0
        self._forbidden: set[tuple[str, str]] = set()
        self._hooks: list[_Hook] = []
        self.requests: list[KubeRequest] = []
        routes = []
        for prefix, kinds in (
            ("/api/v1", [CONFIGMAPS]),
            ("/apis/coordination.k8s.io/v1", [LEASES]),
        ):
            for kind in kinds:
                base = f"{prefix}/namespaces/{{namespace}}/{kind.plural}"
                routes += [
                    Route(base, self._collection(kind), methods=["GET", "POST"]),
                    Route(
                        base + "/{name}",
                        self._item(kind),
                        methods=["GET", "PUT", "PATCH", "DELETE"],
                    ),
                ]
        self.app = Starlette(routes=routes)
        """The ASGI application."""

    # -- test controls ---------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every object, request, hook and refusal (the token stays)."""
        with self._lock:
            self._objects.clear()
            self._forbidden.clear()
            self._hooks.clear()
            self.requests.clear()

    def forbid(self, verb: str, plural: str) -> None:
        """Answer 403 Forbidden to ``verb`` (get, list, create, update, patch, delete) on
        ``plural`` (configmaps, leases)."""
        with self._lock:
            self._forbidden.add((verb, plural))

    def allow(self, verb: str, plural: str) -> None:
        with self._lock:
            self._forbidden.discard((verb, plural))

    def before(
        self,
        verb: str,
        plural: str,
        callback: Callable[[KubeRequest], None],
        *,
        times: int | None = 1,
    ) -> None:
        """Call ``callback(request)`` (in the server's thread) before handling the next
        ``times`` requests (None: all) of ``verb`` on ``plural``, after authorization."""
        with self._lock:
            self._hooks.append(_Hook(verb, plural, callback, times))

    def get(self, plural: str, namespace: str, name: str) -> Obj | None:
        with self._lock:
            found = self._objects.get((plural, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list(self, plural: str, namespace: str) -> list[Obj]:
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (p, ns, _), obj in sorted(self._objects.items())
                if p == plural and ns == namespace
            ]

    def put(self, plural: str, namespace: str, obj: Obj) -> Obj:
        """Store ``obj`` as it is (create or replace, no checks), with a new resourceVersion,
        as another client's write would; returns the stored copy."""
        kind = KINDS[plural]
        with self._lock:
            name = obj["metadata"]["name"]
            old = self._objects.get((plural, namespace, name))
            return copy.deepcopy(self._store(kind, namespace, copy.deepcopy(obj), old))

    def delete(self, plural: str, namespace: str, name: str) -> None:
        with self._lock:
            self._objects.pop((plural, namespace, name), None)
            self._revision += 1

    @property
    def revision(self) -> int:
        with self._lock:
            return self._revision

    def answered(self, verb: str, plural: str, status: int | None = None) -> list[KubeRequest]:
        """Requests of ``verb`` on ``plural`` (answered with ``status``, if given)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.verb == verb and r.plural == plural and (status is None or r.status == status)
            ]

    # -- storage ---------------------------------------------------------------------------

    def _store(self, kind: Kind, namespace: str, obj: Obj, old: Obj | None) -> Obj:
        """Persist (lock held): server-owned metadata and a new resourceVersion."""
        self._revision += 1
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = namespace
        meta["resourceVersion"] = str(self._revision)
        if old is not None:
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
        else:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        obj["apiVersion"] = kind.api_version
        obj["kind"] = kind.kind
        self._objects[(kind.plural, namespace, meta["name"])] = obj
        return obj

    def _would_store(self, kind: Kind, namespace: str, obj: Obj, old: Obj | None) -> Obj:
        """What a dry run answers: the object as it would be stored, nothing persisted."""
        out = copy.deepcopy(obj)
        meta = out.setdefault("metadata", {})
        meta["namespace"] = namespace
        if old is not None:
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        else:
            meta.pop("resourceVersion", None)
        out["apiVersion"] = kind.api_version
        out["kind"] = kind.kind
        return out

    # -- HTTP ------------------------------------------------------------------------------

    def _collection(self, kind: Kind) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            verb = "list" if request.method == "GET" else "create"
            return await self._handle(request, kind, verb, None)

        return endpoint

    def _item(self, kind: Kind) -> Callable[[Request], Any]:
        verbs = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}

        async def endpoint(request: Request) -> Response:
            return await self._handle(
                request, kind, verbs[request.method], request.path_params["name"]
            )

        return endpoint

    async def _handle(self, request: Request, kind: Kind, verb: str, name: str | None) -> Response:
        namespace = request.path_params["namespace"]
        raw = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        seen = KubeRequest(
            verb=verb,
            plural=kind.plural,
            namespace=namespace,
            name=name,
            content_type=content_type,
            dry_run=request.query_params.get("dryRun") == "All",
        )
        with self._lock:
            self.requests.append(seen)
        try:
            self._authorize(request, kind, verb, namespace, name)
            if verb == "patch" and content_type not in (_MERGE, _STRATEGIC, _JSON_PATCH):
                raise ApiStatus(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {_JSON_PATCH}, {_MERGE}, {_STRATEGIC}",
                )
            if raw:
                try:
                    seen.body = json.loads(raw)
                except ValueError:
                    raise _bad_request("the request body is not JSON") from None
            for hook in self._due_hooks(verb, kind.plural):
                hook(seen)
            response = self._dispatch(kind, verb, namespace, name, seen)
        except ApiStatus as e:
            response = e.response()
        seen.status = response.status_code
        return response

    def _authorize(
        self, request: Request, kind: Kind, verb: str, namespace: str, name: str | None
    ) -> None:
        if self.token is not None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token.strip() != self.token:
                raise ApiStatus(401, "Unauthorized", "Unauthorized")
        with self._lock:
            forbidden = (verb, kind.plural) in self._forbidden
        if forbidden:
            target = f'{kind.qualified} "{name}"' if name else kind.qualified
            group = kind.group
            raise ApiStatus(
                403,
                "Forbidden",
                f'{target} is forbidden: User "{self.user}" cannot {verb} resource '
                f'"{kind.plural}" in API group "{group}" in the namespace "{namespace}"',
                kind=kind,
                name=name,
            )

    def _due_hooks(self, verb: str, plural: str) -> list[Callable[[KubeRequest], None]]:
        due: list[Callable[[KubeRequest], None]] = []
        with self._lock:
            for hook in list(self._hooks):
                if hook.verb == verb and hook.plural == plural:
                    due.append(hook.callback)
                    if hook.times is not None:
                        hook.times -= 1
                        if hook.times <= 0:
                            self._hooks.remove(hook)
        return due

    def _dispatch(
        self, kind: Kind, verb: str, namespace: str, name: str | None, seen: KubeRequest
    ) -> Response:
        with self._lock:
            if verb == "list":
                items = [
                    copy.deepcopy(obj)
                    for (p, ns, _), obj in sorted(self._objects.items())
                    if p == kind.plural and ns == namespace
                ]
                return JSONResponse(
                    {
                        "kind": f"{kind.kind}List",
                        "apiVersion": kind.api_version,
                        "metadata": {"resourceVersion": str(self._revision)},
                        "items": items,
                    }
                )
            if verb == "create":
                return self._create(kind, namespace, seen)
            assert name is not None
            old = self._objects.get((kind.plural, namespace, name))
            if old is None:
                raise _not_found(kind, name)
            if verb == "get":
                return JSONResponse(copy.deepcopy(old))
            if verb == "delete":
                if not seen.dry_run:
                    del self._objects[(kind.plural, namespace, name)]
                    self._revision += 1
                return JSONResponse(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {
                            "name": name,
                            "kind": kind.plural,
                            "uid": old["metadata"]["uid"],
                        },
                    }
                )
            if verb == "update":
                new = self._body_object(kind, seen.body)
            else:
                new = self._patched(old, seen)
            return self._update(kind, namespace, name, old, new, seen.dry_run)

    def _body_object(self, kind: Kind, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise _bad_request("the request body must be a JSON object")
        if body.get("kind") not in (None, kind.kind) or body.get("apiVersion") not in (
            None,
            kind.api_version,
        ):
            raise _bad_request(
                f"the body is a {body.get('apiVersion')}/{body.get('kind')}, "
                f"not a {kind.api_version}/{kind.kind}"
            )
        obj = copy.deepcopy(body)
        if not isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {}
        return obj

    def _patched(self, old: Obj, seen: KubeRequest) -> Obj:
        if seen.content_type == _MERGE:
            new = merge_patch(old, seen.body)
        elif seen.content_type == _STRATEGIC:
            new = strategic_merge_patch(old, seen.body)
        else:  # _JSON_PATCH (others were refused with 415)
            new = json_patch(old, seen.body)
        if not isinstance(new, dict):
            raise _bad_request("the patched object is not a JSON object")
        if not isinstance(new.get("metadata"), dict):
            new["metadata"] = {}
        return new

    def _create(self, kind: Kind, namespace: str, seen: KubeRequest) -> Response:
        obj = self._body_object(kind, seen.body)
        meta = obj["metadata"]
        if meta.get("namespace") not in (None, "", namespace):
            raise _bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        if meta.get("resourceVersion"):
            raise _invalid(
                kind,
                str(meta.get("name")),
                ["metadata.resourceVersion: Invalid value: must not be set on create"],
            )
        name = meta.get("name")
        if not name:
            raise _invalid(kind, "", ["metadata.name: Required value: name is required"])
        _validate(kind, obj)
        if (kind.plural, namespace, name) in self._objects:
            raise ApiStatus(
                409,
                "AlreadyExists",
                f'{kind.qualified} "{name}" already exists',
                kind=kind,
                name=name,
            )
        if seen.dry_run:
            return JSONResponse(self._would_store(kind, namespace, obj, None), status_code=201)
        stored = self._store(kind, namespace, obj, None)
        return JSONResponse(copy.deepcopy(stored), status_code=201)

    def _update(
        self, kind: Kind, namespace: str, name: str, old: Obj, new: Obj, dry_run: bool
    ) -> Response:
        meta = new["metadata"]
        if meta.get("name") not in (None, name):
            raise _bad_request(
                "the name of the object does not match the name on the URL "
                f"({meta.get('name')!r} vs {name!r})"
            )
        if meta.get("namespace") not in (None, "", namespace):
            raise _bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["name"] = name
        version = meta.get("resourceVersion")
        if version not in (None, "") and version != old["metadata"]["resourceVersion"]:
            raise _conflict(kind, name)
        _validate(kind, new)
        if dry_run:
            return JSONResponse(self._would_store(kind, namespace, new, old))
        stored = self._store(kind, namespace, new, old)
        return JSONResponse(copy.deepcopy(stored))
