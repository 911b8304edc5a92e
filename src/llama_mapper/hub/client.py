"""Adapters and datasets on the Hugging Face Hub as immutable, versioned revisions.

- A reference is ``org/name@v1.2.0`` (a release tag), ``org/name@main`` (a branch), ``org/name@<sha>``
  or ``org/name`` (the latest release tag, never whatever ``main`` holds), or a local folder.
  :func:`resolve` turns it into the immutable commit sha that serving and audit records report.
- :func:`push_folder` uploads a folder in one commit on ``main`` and tags it ``vX.Y.Z``. A version tag
  that exists is never moved or reused, and a version older than the latest release is refused, so
  ``main`` always holds the latest release. A push cut off before its tag is completed by running
  it again: the same files make no new commit, and the tag is added.
- :func:`pull` downloads a revision (``snapshot_download``), or reads it from the cache when
  ``HF_HUB_OFFLINE=1``.

Everything goes through ``huggingface_hub`` (``HfApi``), so the same code talks to the real Hub
(``HF_TOKEN``) and to the local one (``HF_ENDPOINT``, see :mod:`llama_mapper.hub.local_server`). Failures
become :class:`HubError`, whose message says what to do.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SEMVER = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?$"
)
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
# Never uploaded: intermediate checkpoints (optimizer states), TensorBoard runs, caches.
DEFAULT_IGNORE = ("checkpoint-*", "checkpoint-*/**", "runs/**", ".cache/**", "**/__pycache__/**", ".git/**")


class HubError(RuntimeError):
    """A Hub operation that cannot be done; the message names the cause and the way out."""


def parse_version(tag: str) -> tuple[int, int, int, tuple[Any, ...]] | None:
    """``"v1.2.0-rc.1"`` -> a sortable key (a pre-release sorts before its release); None if not semver."""
    match = SEMVER.match(tag)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    if pre is None:
        return (int(major), int(minor), int(patch), (1,))
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(major), int(minor), int(patch), (0, parts))


def check_version(version: str) -> str:
    """``version`` if it is a release tag ``vMAJOR.MINOR.PATCH[-pre]``, else a HubError."""
    if parse_version(version) is None:
        raise HubError(
            f"version {version!r} is not semver with a leading v: use vMAJOR.MINOR.PATCH, e.g. v1.2.0"
        )
    return version


def latest_release(tags: Sequence[str]) -> str | None:
    """The highest semver tag (pre-releases only when there is no release)."""
    releases = [t for t in tags if parse_version(t) is not None]
    final = [t for t in releases if "-" not in t]
    pool = final or releases
    return max(pool, key=parse_version) if pool else None  # type: ignore[arg-type]


@dataclass(frozen=True)
class HubRef:
    """``org/name[@revision]``: a repo on the Hub and the revision asked for (None: latest release)."""

    repo_id: str
    revision: str | None = None

    @classmethod
    def parse(cls, text: str) -> HubRef:
        repo_id, _, revision = str(text).partition("@")
        if not REPO_ID.match(repo_id) or (_ and not revision):
            raise HubError(
                f"{text!r} is not a Hub reference: use org/name, org/name@v1.2.0, @branch or @<full sha>"
            )
        return cls(repo_id, revision or None)

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id


def is_hub_ref(text: str) -> bool:
    """True for ``org/name[@rev]`` that is not an existing local path."""
    return not Path(text).exists() and REPO_ID.match(str(text).partition("@")[0]) is not None


@dataclass(frozen=True)
class Resolved:
    """Where a reference led: the commit sha (immutable) and, once pulled, the local folder."""

    repo_id: str | None
    revision: str | None  # the tag or branch used (after "latest release" was chosen)
    sha: str | None
    path: str | None = None
    repo_type: str = "model"

    @property
    def ref(self) -> str:
        """``org/name@v1.2.0``, or the local path."""
        if self.repo_id is None:
            return str(self.path)
        return f"{self.repo_id}@{self.revision or self.sha}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ref": self.ref}


def endpoint_of(api: Any = None) -> str:
    from huggingface_hub import constants

    return (getattr(api, "endpoint", None) or constants.ENDPOINT).rstrip("/")


def use_hub(**settings: str) -> None:
    """Point this process (and the children it starts) at a Hub: set the ``HF_*`` variables in
    ``settings`` and re-read huggingface_hub's settings, which it reads once, when first imported.

    Without the re-read, a process that imported huggingface_hub before (most do) would keep talking
    to the Hub it started with: ``HfApi()`` takes its endpoint from ``constants.ENDPOINT``."""
    import importlib
    import os

    from huggingface_hub import constants

    os.environ.update(settings)
    importlib.reload(constants)


def get_api(api: Any = None):
    from huggingface_hub import HfApi

    return api or HfApi()


def transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(cannot connect, connection broke off) exception classes of the HTTP library the client uses
    (``httpx2`` for huggingface_hub 2.x, ``httpx`` before)."""
    import importlib

    connect: list[type[BaseException]] = []
    broken: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            lib = importlib.import_module(name)
        except ImportError:
            continue
        connect += [lib.ConnectError, lib.ConnectTimeout]
        broken += [lib.RemoteProtocolError, lib.ReadError, lib.WriteError, lib.ReadTimeout]
    return tuple(connect), tuple(broken)


@contextlib.contextmanager
def hub_errors(what: str, repo: str | None = None, api: Any = None) -> Iterator[None]:
    """Turn the client's exceptions into HubErrors that say what to do."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = endpoint_of(api)
    cannot_connect, broke_off = transport_errors()
    offline_hint = (
        "Offline, name a local folder (hf download ... --local-dir), set HF_HUB_OFFLINE=1 to use a "
        "revision already in the cache, or start the local Hub (make hub) and set HF_ENDPOINT."
    )
    try:
        yield
    except HubError:
        raise
    except RevisionNotFoundError as err:
        raise HubError(
            f"{what}: {repo} has no such revision on {endpoint}. {_known_versions(repo, api)}"
        ) from err
    except (RepositoryNotFoundError, GatedRepoError) as err:
        status = getattr(err.response, "status_code", None)
        auth = " or your token cannot see it" if status in (401, 403) else ""
        raise HubError(f"{what}: repository {repo} not found on {endpoint}{auth}.") from err
    except OfflineModeIsEnabled as err:
        raise HubError(f"{what}: HF_HUB_OFFLINE=1 forbids Hub calls. {offline_hint}") from err
    except LocalEntryNotFoundError as err:
        raise HubError(
            f"{what}: {repo} is not in the local cache and the Hub at {endpoint} cannot be reached. {offline_hint}"
        ) from err
    except HfHubHTTPError as err:
        status = getattr(err.response, "status_code", None)
        if status == 401:
            raise HubError(
                f"{what}: the Hub at {endpoint} rejected the token (HF_TOKEN or `hf auth login`): it is "
                "missing, wrong or expired; writing needs a token with write access."
            ) from err
        if status == 403:
            raise HubError(f"{what}: the token may not write to {repo} on {endpoint} (403).") from err
        raise HubError(f"{what}: the Hub at {endpoint} answered {status}: {err}") from err
    except cannot_connect as err:
        raise HubError(
            f"{what}: cannot reach the Hub at {endpoint} ({type(err).__name__}). {offline_hint}"
        ) from err
    except broke_off as err:
        raise HubError(
            f"{what}: the connection to {endpoint} broke off ({type(err).__name__}). A commit is atomic on "
            "the Hub: nothing half-written is visible. Run the same command again to finish."
        ) from err


def _known_versions(repo: str | None, api: Any = None) -> str:
    if repo is None:
        return ""
    try:
        tags = sorted((t for t, _ in release_tags(repo, api=api)), key=parse_version)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - only a hint for an error message
        return ""
    return f"Released versions: {', '.join(tags)}." if tags else "It has no release tag yet."


def release_tags(repo_id: str, repo_type: str = "model", api: Any = None) -> list[tuple[str, str]]:
    """``(tag, sha)`` of every semver tag, newest first."""
    refs = get_api(api).list_repo_refs(repo_id, repo_type=repo_type)
    tags = [(t.name, t.target_commit) for t in refs.tags if parse_version(t.name) is not None]
    return sorted(tags, key=lambda t: parse_version(t[0]), reverse=True)  # type: ignore[arg-type, return-value]


def cached_release(repo_id: str, repo_type: str = "model") -> tuple[str, str] | None:
    """Offline: the newest release tag that the local cache knows, with its sha."""
    from huggingface_hub import constants

    folder = Path(constants.HF_HUB_CACHE) / f"{repo_type}s--{repo_id.replace('/', '--')}" / "refs"
    tags = {p.name: p.read_text().strip() for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
    best = latest_release(list(tags))
    return (best, tags[best]) if best else None


def resolve(ref: str | HubRef, repo_type: str = "model", api: Any = None) -> Resolved:
    """The commit sha of a reference (no download). No revision: the latest release tag."""
    from huggingface_hub import constants

    ref = ref if isinstance(ref, HubRef) else HubRef.parse(ref)
    if constants.HF_HUB_OFFLINE:
        return _resolve_offline(ref, repo_type)
    api = get_api(api)
    with hub_errors(f"cannot resolve {ref}", ref.repo_id, api):
        if ref.revision is None:
            tags = release_tags(ref.repo_id, repo_type, api)
            if not tags:
                raise HubError(
                    f"{ref.repo_id} has no release tag (vX.Y.Z) on {endpoint_of(api)}: push one with "
                    f"`make push ... VERSION=v0.1.0`, or name a branch explicitly ({ref.repo_id}@main)."
                )
            tag, sha = tags[0]
            return Resolved(ref.repo_id, tag, sha, repo_type=repo_type)
        info = api.repo_info(ref.repo_id, revision=ref.revision, repo_type=repo_type)
        return Resolved(ref.repo_id, ref.revision, info.sha, repo_type=repo_type)


def _resolve_offline(ref: HubRef, repo_type: str) -> Resolved:
    from huggingface_hub import constants

    if ref.revision is None:
        found = cached_release(ref.repo_id, repo_type)
        if found is None:
            raise HubError(
                f"HF_HUB_OFFLINE=1 and the cache holds no release of {ref.repo_id}: name a local folder, "
                f"or pull a version once while online."
            )
        return Resolved(ref.repo_id, found[0], found[1], repo_type=repo_type)
    if FULL_SHA.match(ref.revision):
        return Resolved(ref.repo_id, ref.revision, ref.revision, repo_type=repo_type)
    path = (
        Path(constants.HF_HUB_CACHE)
        / f"{repo_type}s--{ref.repo_id.replace('/', '--')}"
        / "refs"
        / ref.revision
    )
    if not path.is_file():
        raise HubError(
            f"HF_HUB_OFFLINE=1 and {ref} is not in the cache: pull it once while online, or name a local folder."
        )
    return Resolved(ref.repo_id, ref.revision, path.read_text().strip(), repo_type=repo_type)


def local_folder_sha(folder: Path) -> str | None:
    """The commit of a folder made by ``hf download --local-dir`` (its download metadata), if any."""
    shas = set()
    for meta in (folder / ".cache" / "huggingface" / "download").rglob("*.metadata"):
        first = meta.read_text().splitlines()[:1]
        if first and FULL_SHA.match(first[0].strip()):
            shas.add(first[0].strip())
    return shas.pop() if len(shas) == 1 else None


def pull(
    ref: str | HubRef,
    repo_type: str = "model",
    local_dir: str | Path | None = None,
    allow_patterns: Sequence[str] | None = None,
    api: Any = None,
) -> Resolved:
    """A local folder for ``ref``: the folder itself, or the revision downloaded (or found in cache)."""
    if isinstance(ref, str) and Path(ref).is_dir():
        folder = Path(ref).resolve()
        return Resolved(None, None, local_folder_sha(folder), str(folder), repo_type)
    from huggingface_hub import snapshot_download

    resolved = resolve(ref, repo_type, api)
    with hub_errors(f"cannot download {resolved.ref}", resolved.repo_id, api):
        # By name, so that the cache records the tag (refs/<tag>) for HF_HUB_OFFLINE=1 later.
        path = snapshot_download(
            resolved.repo_id,  # type: ignore[arg-type]
            revision=resolved.revision or resolved.sha,
            repo_type=repo_type,
            local_dir=str(local_dir) if local_dir else None,
            allow_patterns=list(allow_patterns) if allow_patterns else None,
            endpoint=endpoint_of(api),
            token=getattr(api, "token", None),
        )
    if local_dir is None and Path(path).name != resolved.sha:
        raise HubError(
            f"{resolved.ref} moved while it was downloaded (now {Path(path).name[:12]}): try again"
        )
    return Resolved(resolved.repo_id, resolved.revision, resolved.sha, str(path), repo_type)


def folder_files(folder: Path, ignore: Sequence[str] = DEFAULT_IGNORE) -> list[str]:
    """Relative paths of the files to upload from ``folder`` (posix), ignore patterns applied."""
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not any(fnmatch.fnmatch(rel, pat) for pat in ignore):
            files.append(rel)
    return files


def check_token(api: Any) -> None:
    """Fail before any upload when there is no token or the Hub rejects it."""
    from huggingface_hub import get_token

    if not (getattr(api, "token", None) or get_token()):
        raise HubError(
            f"no Hub token: set HF_TOKEN or run `hf auth login` (the Hub at {endpoint_of(api)} needs a "
            "token with write access to push)."
        )
    with hub_errors("cannot push", None, api):
        api.whoami()


def check_new_version(what: str, version: str, tags: dict[str, str]) -> None:
    """Refuse ``version`` when it is already a tag (releases are immutable) or older than the latest."""
    if version in tags:
        raise HubError(
            f"{what}: {version} already exists (commit {tags[version][:12]}). Released versions are "
            f"immutable: push a new version (the latest is {latest_release(list(tags))})."
        )
    latest = latest_release(list(tags))
    if latest is not None and parse_version(version) < parse_version(latest):  # type: ignore[operator]
        raise HubError(
            f"{what}: {version} is older than the latest release {latest}; main holds the latest release."
        )


def push_folder(
    folder: str | Path,
    repo_id: str,
    version: str,
    repo_type: str = "model",
    replace: dict[str, bytes] | None = None,
    ignore: Sequence[str] = DEFAULT_IGNORE,
    private: bool = False,
    api: Any = None,
) -> Resolved:
    """Upload ``folder`` as one commit on ``main`` and tag it ``version``; returns the released sha.

    ``replace`` maps repo paths to contents that take the place of the folder's files (the model
    card rendered for this repo and version). Files on ``main`` that the folder lacks are deleted in
    the same commit, so the tag holds exactly the folder.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    folder = Path(folder)
    check_version(version)
    if not REPO_ID.match(repo_id):
        raise HubError(f"{repo_id!r} is not a repo id: use org/name")
    if not folder.is_dir():
        raise HubError(f"{folder} is not a folder")
    api = get_api(api)
    check_token(api)
    what = f"cannot push {repo_id}@{version}"
    with hub_errors(what, repo_id, api):
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        refs = api.list_repo_refs(repo_id, repo_type=repo_type)
        check_new_version(what, version, {t.name: t.target_commit for t in refs.tags})
        head = next(b.target_commit for b in refs.branches if b.name == "main")
        local = {rel: folder / rel for rel in folder_files(folder, ignore)}
        contents: dict[str, Any] = {**{rel: str(p) for rel, p in local.items()}, **(replace or {})}
        remote = set(api.list_repo_files(repo_id, repo_type=repo_type, revision=head))
        operations: list[Any] = [CommitOperationAdd(rel, data) for rel, data in sorted(contents.items())]
        operations += [
            CommitOperationDelete(rel) for rel in sorted(remote - set(contents) - {".gitattributes"})
        ]
        commit = api.create_commit(
            repo_id,
            operations,
            commit_message=f"Release {version}",
            commit_description=f"{len(contents)} files from {folder.name}",
            repo_type=repo_type,
            parent_commit=head,
        )
        api.create_tag(
            repo_id, tag=version, revision=commit.oid, tag_message=f"Release {version}", repo_type=repo_type
        )
    logger.info("released %s@%s at %s", repo_id, version, commit.oid)
    return Resolved(repo_id, version, commit.oid, str(folder), repo_type)


def versions(
    repo_id: str, repo_type: str = "model", api: Any = None, metadata_file: str | None = None
) -> list[dict[str, Any]]:
    """The released versions, newest first: tag, sha, date, and ``metadata_file``'s metrics if given."""
    import json

    from huggingface_hub import hf_hub_download

    api = get_api(api)
    rows = []
    with hub_errors(f"cannot list the versions of {repo_id}", repo_id, api):
        dates = {}
        for tag, sha in release_tags(repo_id, repo_type, api):
            if sha not in dates:
                dates[sha] = api.list_repo_commits(repo_id, repo_type=repo_type, revision=sha)[0].created_at
            row: dict[str, Any] = {
                "version": tag,
                "sha": sha,
                "date": dates[sha].isoformat(timespec="seconds"),
            }
            if metadata_file:
                try:
                    path = hf_hub_download(
                        repo_id, metadata_file, revision=sha, repo_type=repo_type, endpoint=endpoint_of(api)
                    )
                    row["metrics"] = json.loads(Path(path).read_text(encoding="utf-8")).get("metrics", {})
                except Exception:  # noqa: BLE001 - a version without metadata still lists
                    row["metrics"] = {}
            rows.append(row)
    return rows
