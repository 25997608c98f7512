"""A HubSpot-compatible server on loopback, for hubsync's tests, demo and benchmarks.

It answers the requests of ``hubspot-api.md`` (the key exchange, the token lookup, the
Design Manager "filemapper" API, the public CMS Source Code API in its dated
``/cms/source-code/2026-03/`` and numbered ``/cms/v3/source-code/`` families, and the
calls HubSpot's ``hs`` CLI makes around its commands) the way HubSpot does, closely
enough that ``hs`` 8.14.0 itself runs against it (``tests/conformance``), and adds fault
injection and an inspection API. It imports nothing from hubsync's client side.

Modules: ``base`` (state, Python API, plumbing), ``auth``, ``files`` (strict multipart,
store, delete, stream), ``filemapper``, ``source_code``, ``extract`` (archive
extraction tasks), ``extras`` (firealarm, usage, account probes), ``control`` (the
``/_emulator/`` API), ``server`` (socket, TLS, routing, faults), ``tls``, ``store``,
``validate``, ``records``, ``thread``.

    from hubsync.emulator import Emulator
    async with Emulator(rate_limit=0) as emu:
        acct = emu.add_account("sandbox", portal_id=111, user_id=9001,
                               email="jane@example.com")
        ...  # point a client at emu.url with acct.key
        emu.files(111)["marketing-theme/templates/home.html"].user_id  # 9001

With ``tls=True`` (``hubsync emulator --tls``) it serves https with a throwaway CA made
at start (``trustme``); ``ca_path`` is its PEM (``NODE_EXTRA_CA_CERTS`` for ``hs``,
``SSL_CERT_FILE`` for Python), removed at stop. Every path may start with
``/api.hubapi.com`` or ``/api.hubapiqa.com``: what ``hs`` sends under
``HUBAPI_DOMAIN_OVERRIDE=127.0.0.1:PORT/api.hubapi`` (hs-on-loopback.md).

Strict where HubSpot is strict (issue 12), each with a raw-HTTP test: an upload body
must be multipart with exactly one part, named ``file`` (two ``file`` parts, or any
other part, or a body cut short -> 400); filemapper uploads need ``buffer``;
``environmentId`` is 1 or 2 (``hs --staging``; both stored in the same tree, the
request log keeps it) on every filemapper call; a path still holding a percent escape
after one decoding (``%252F``) -> 400; ``Retry-After`` is whole seconds; every answer,
errors included, has ``X-HubSpot-Correlation-Id``. ``stream``'s Content-Disposition
``creation-date``/``modification-date`` are epoch ms (``hs`` parseInt's them).

Answers where HubSpot's exact behaviour is not documented (chosen to be realistic and
to make client bugs visible):

- Unknown or revoked key at ``POST /localdevauth/v1/auth/refresh``: 401
  ``category: "INVALID_AUTHENTICATION"``, ``subCategory: "INVALID_PERSONAL_ACCESS_KEY"``,
  a message saying the key is invalid or revoked. A body without the key: 400. The
  optional ``?portalId=`` of the exchange is ignored (the key decides the portal), so a
  client can detect a key of another portal from ``hubId``. Tokens issued before a key
  is revoked stay valid until they expire (``expire_all_tokens`` ends them).
- Authenticated calls: no or unknown bearer token -> 401 ``INVALID_AUTHENTICATION``;
  expired -> 401 ``EXPIRED_AUTHENTICATION`` ("The OAuth token used to make this call
  expired N minute(s) ago."); ``portalId`` of another portal -> 403 ``FORBIDDEN``; a
  missing or non-numeric ``portalId`` -> 400 (stricter than HubSpot may be, because
  the contract sends it on every call).
- ``GET /oauth/v1/access-tokens/{token}`` needs no Authorization header; unknown token
  -> 404, expired -> 401 ``EXPIRED_AUTHENTICATION``.
- upload/delete/stream take the remote path as ONE segment (``/`` sent as ``%2F``);
  raw slashes there get 404, so a client's encoding bug shows. ``meta/`` takes one
  encoded segment per folder level; ``meta`` of the root lists the top folders.
- Uploads: extensions outside the ``hs`` CLI's list (plus ``htm``) -> 400 "Unsupported
  file type"; an empty file -> 400 ``File source stream cannot be empty``; a template
  (``.html``/``.htm``) with an unclosed ``{% {{ {#`` -> 400 with ``errors[]`` whose
  ``errorTokens.line`` is ``[line of the opener]``; a ``.json`` file that does not parse
  -> 400 with its line. A file inside a ``*.module`` folder written before that
  module's ``meta.json`` is stored with ``before_meta=True``. Bodies up to 64 MiB.
  ``buffer=true`` writes the draft only, ``buffer=false`` (the default) writes the
  published tree and the draft. ``meta``/``stream`` read the published tree unless
  ``buffer=true``. Delete removes from both, 204; 404 when neither has the path.
- The writer: file metadata (filemapper ``meta``, Source Code ``metadata`` and upload
  answers) carries ``updatedById``, the user id of the last writer (HubSpot documents
  no such field; its Design Manager shows the writer, so clients treat it as optional).
  ``edit_as``/``delete_as`` (control: ``PUT|DELETE /_emulator/files/{portal}/{path}``)
  change files as another user in the Design Manager would.
- Archive extraction (``extract/async``): see ``hubsync.emulator.extract``; faults with
  ``set_extract_faults`` (control: ``GET|PUT /_emulator/extract-faults``).
- The ``hs`` extras (firealarm, usage events, account-type probes): see
  ``hubsync.emulator.extras``.
- Source Code API (``/cms/source-code/2026-03/`` or ``/cms/v3/source-code/``, then
  ``{draft|published}/{operation}/{path}``; another dated version -> 404,
  path raw with ``/``, each segment percent-decoded): the SAME store as filemapper, so a
  file written through one API is read through the other; ``draft``/``published`` are
  the store's two environments. Assumed, not confirmed against HubSpot:
  ``PUT published`` writes published and draft (HubSpot: publishing clears the draft),
  ``PUT draft`` the draft only; both answer 200 with the file's metadata.
  ``DELETE published`` removes the path (file, or folder recursively) from both
  environments, ``DELETE draft`` from the draft only; 204, or 404 when none of those
  had it. ``GET metadata`` answers ``{id (the full path), name, folder, createdAt,
  updatedAt}`` plus ``children`` for folders and ``hash`` (sha256 hex) for files, never
  ``archivedAt`` (nothing is archived); metadata of the root (empty path) lists the top
  folders. ``GET content`` answers a file's bytes as ``stream`` does (404 for folders).
  ``.zip`` files are accepted here (archives for ``extract``), not on filemapper.
  ``POST validate`` runs the upload checks (extension, empty file, HubL, JSON) without
  storing: 200 with an empty body, or the same 400 as an upload. An environment other
  than ``draft``/``published`` -> 400; an unknown operation -> 404; a method the
  operation lacks -> 405. Auth, ``portalId``, rate limit and faults as for filemapper.
- Rate limit per portal (rolling window, 429 with HubSpot's ``RATE_LIMIT`` body).
  Authenticated filemapper and v3 calls and token lookups count; the key exchange and
  requests refused before authentication do not. ``X-HubSpot-RateLimit-*`` headers are
  on every API response, except when limiting is off (``rate_limit=0``): a ``Max`` of 0
  would tell a client it has no budget.
- Faults, in this order per API call: latency, dropped connection (nothing applied),
  429 storm, random 500/502/503/504. A seeded ``random.Random`` decides drops and
  errors, so a run is reproducible for the same sequence of requests.
- Every response carries ``X-HubSpot-Correlation-Id``; every error body has
  ``status``, ``message``, ``correlationId`` and ``category``.

Control API (loopback clients only, no auth), under ``/_emulator/``: ``GET /`` (summary, with
``max_in_flight``: the most API requests handled at once),
``GET|POST accounts`` (POST returns the new key), ``GET files/{portal}?environment=``,
``GET content/{portal}/{env}/{path}``, ``GET|DELETE requests`` (``?since=N``),
``PUT|DELETE files/{portal}/{path}`` (``?user_id=``: a change by another user),
``GET|PUT|DELETE faults`` (PUT replaces all settings, as ``set_faults`` does),
``GET|PUT extract-faults``,
``POST revoke`` (``{"key"}`` or ``{"account"}``), ``POST rotate`` (``{"account"}``),
``POST expire-tokens``, ``GET|PUT rate-limit`` (``{"limit", "window_ms"}``).

With ``data_dir`` the trees are mirrored at ``<data_dir>/<portal>/<env>/<path>`` and
loaded from there at construction (writer unknown: ``user_id`` 0).
"""

from hubsync.emulator.base import is_loopback
from hubsync.emulator.records import (
    EmulatedAccount,
    Endpoint,
    ExtractFaults,
    ExtractTask,
    Faults,
    RequestRecord,
)
from hubsync.emulator.server import Emulator
from hubsync.emulator.store import Environment, StoredFile
from hubsync.emulator.thread import EmulatorThread

__all__ = [
    "EmulatedAccount",
    "Emulator",
    "EmulatorThread",
    "Endpoint",
    "Environment",
    "ExtractFaults",
    "ExtractTask",
    "Faults",
    "RequestRecord",
    "StoredFile",
    "is_loopback",
]
