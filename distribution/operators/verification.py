"""Release check: verify published records end to end (`manage.py verify_distribution`).

Every `distributionRecords` document in PayloadCMS (optionally one project, published since a date, or a random
sample) is checked: its public_url serves an MP4 of the recorded size, its `media` document exists with the same
storage path and checksum and, when asked, the served bytes hash to the recorded sha256. A link past its
`expires_at` is expired by design: reported (the run's `records_expired`), not a problem unless asked, but a
problem if it still serves (`expiry_not_enforced`). An unpublished record (a tombstone) is sound when its media
document is gone and no link a publish of it answered still serves (`takedown_incomplete` otherwise).
A run is stored as a VerificationRun with one RecordCheck per record and one VerificationFinding per problem;
a run that selected no record says so (status `nothing`) rather than calling nothing sound.

Records are checked by `concurrency` threads that are never handed more than `concurrency` records at a time, and
files are hashed chunk by chunk, so memory stays flat whatever the number of records or their sizes. Only the
calling thread touches the database.
"""

import hashlib
import random
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime

import httpx
from django.db.models import Count
from django.utils import timezone

from distribution.cms import mirror
from distribution.cms.client import DISTRIBUTION_RECORDS, MEDIA, PayloadCMSClient
from distribution.conf import app_settings
from distribution.errors import PublishError
from distribution.models import PublishJob, RecordCheck, VerificationFinding, VerificationRun
from distribution.outbound import destinations
from distribution.outbound.clients import new_client
from distribution.publishing.plan import check_public_url
from distribution.records import iso, moment

URL_UNREACHABLE = "url_unreachable"
SIZE_MISMATCH = "size_mismatch"
CHECKSUM_MISMATCH = "checksum_mismatch"
MEDIA_MISSING = "media_missing"
EXPIRED = "expired"
PATH_MISMATCH = "path_mismatch"
EXPIRY_NOT_ENFORCED = "expiry_not_enforced"
TAKEDOWN_INCOMPLETE = "takedown_incomplete"
CODES = (
    URL_UNREACHABLE,
    SIZE_MISMATCH,
    CHECKSUM_MISMATCH,
    MEDIA_MISSING,
    EXPIRED,
    PATH_MISMATCH,
    EXPIRY_NOT_ENFORCED,
    TAKEDOWN_INCOMPLETE,
)
SERVING = (200, 206)

CHUNK_SIZE = 1024 * 1024
SAVE_BATCH = 200
MAX_CONCURRENCY = 32


@dataclass(frozen=True)
class Options:
    project: str | None = None
    since: datetime | None = None
    sample: int | None = None
    checksum: bool = False
    concurrency: int = 4
    expired_is_problem: bool = False  # a record past its expires_at is reported as `expired`, not only counted

    def as_dict(self) -> dict:
        return {**asdict(self), "since": iso(self.since) if self.since else None}


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


def verify(
    options: Options,
    *,
    progress: Callable[[int, int], None] | None = None,
    http: httpx.Client | None = None,
) -> VerificationRun:
    """Check the selected records and store the run; PublishError when PayloadCMS cannot be read.

    A run that cannot finish (CMS unreachable, interrupted) is kept with status `failed` and its reason.
    """
    run = VerificationRun.objects.create(options=options.as_dict(), started_at=timezone.now())
    results = _Results(run)
    try:
        timeout = app_settings().http_timeout_seconds
        with (
            new_client(timeout=timeout) if http is None else nullcontext(http) as client,
            destinations.guarded_client(timeout=timeout) if http is None else nullcontext(http) as files,
        ):
            cms = PayloadCMSClient.from_settings(client)
            checker = _Checker(cms, files, options.checksum, options.expired_is_problem)
            selected = _with_earlier_links(_selected_records(cms, options))
            for (doc, _), (problems, expired), total in _check_all(selected, checker, options.concurrency):
                mirror.store(doc)
                results.add(doc["audit_log_id"], problems, expired)
                if progress:
                    progress(run.records_checked, total)
    except BaseException as exc:
        results.save()
        run.status = VerificationRun.Status.FAILED
        run.error = f"{exc.code}: {exc.message}" if isinstance(exc, PublishError) else exc.__class__.__name__
        run.finished_at = timezone.now()
        run.save()
        raise
    results.save()
    if not run.records_checked:
        run.status = VerificationRun.Status.NOTHING
    elif run.records_with_problems:
        run.status = VerificationRun.Status.PROBLEMS
    else:
        run.status = VerificationRun.Status.SOUND
    run.finished_at = timezone.now()
    run.save()
    return run


def _selected_records(cms: PayloadCMSClient, options: Options) -> Iterator[tuple[dict, int]]:
    """(document, number of records this run will check), paging through PayloadCMS.

    A sample picks random positions once the first page tells the total, so it needs no more memory than its size.
    """
    where = {}
    if options.project:
        where["project_id"] = {"equals": options.project}
    if options.since:
        where["published_at"] = {"greater_than_equal": iso(options.since)}
    chosen = None
    for index, (doc, total) in enumerate(cms.iter_documents(DISTRIBUTION_RECORDS, where=where)):
        if options.sample is None:
            yield doc, total
            continue
        if chosen is None:
            chosen = set(random.sample(range(total), min(options.sample, total)))
        if index in chosen:
            yield doc, len(chosen)


def _with_earlier_links(records: Iterator[tuple[dict, int]]) -> Iterator[tuple[tuple[dict, list[str]], int]]:
    """((document, links its publish jobs answered), total) for unpublished records, whose own link is gone.

    Read here, in the calling thread (the only one touching the database).
    """
    for doc, total in records:
        earlier: list[str] = []
        if doc.get("unpublished_at"):
            earlier = list(
                PublishJob.objects.filter(audit_log_id=doc["audit_log_id"], status=PublishJob.Status.PUBLISHED)
                .exclude(public_url="")
                .values_list("public_url", flat=True)
                .distinct()
            )
        yield (doc, earlier), total


def _check_all(records: Iterator[tuple[tuple[dict, list[str]], int]], checker: "_Checker", concurrency: int):
    """Yield (document, problems, total) as checks finish, with at most `concurrency` records in flight."""
    pending: dict[Future, tuple[tuple[dict, list[str]], int]] = {}

    def finished():
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            doc, total = pending.pop(future)
            yield doc, future.result(), total

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="verify") as pool:
        try:
            for doc, total in records:
                if len(pending) >= concurrency:
                    yield from finished()
                pending[pool.submit(checker.check, *doc)] = (doc, total)
            while pending:
                yield from finished()
        finally:
            for future in pending:
                future.cancel()


class _Checker:
    """The checks of one record; runs in worker threads, so it only talks HTTP."""

    def __init__(self, cms: PayloadCMSClient, http: httpx.Client, stream_checksum: bool, expired_is_problem: bool):
        self.cms = cms
        self.http = http
        self.stream_checksum = stream_checksum
        self.expired_is_problem = expired_is_problem

    def check(self, doc: dict, earlier_links: list[str]) -> tuple[list[Problem], bool]:
        """(problems, whether its link is expired by design)."""
        media = self.cms.find_by_audit_log_id(MEDIA, doc["audit_log_id"])
        if doc.get("unpublished_at"):
            return self._takedown_problems(media, earlier_links), False
        problems = self._media_problems(doc, media)
        url = doc.get("public_url") or ""
        expires_at = moment(doc.get("expires_at"))
        if expires_at and expires_at <= timezone.now():
            if self.expired_is_problem:
                problems.append(Problem(EXPIRED, f"The record's link expired at {iso(expires_at)}."))
            if self._serves(url):
                problems.append(
                    Problem(
                        EXPIRY_NOT_ENFORCED, f"public_url still serves the file after its expiry ({iso(expires_at)})."
                    )
                )
            return problems, True
        expected_size = media.get("filesize") if media else None
        problems += self._url_problems(url, expected_size, (doc.get("checksum") or "").lower())
        return problems, False

    def _takedown_problems(self, media: dict | None, earlier_links: list[str]) -> list[Problem]:
        problems = []
        if media is not None:
            problems.append(Problem(TAKEDOWN_INCOMPLETE, "Unpublished, but PayloadCMS still has its media document."))
        serving = sum(self._serves(url) for url in earlier_links)
        if serving:
            problems.append(
                Problem(
                    TAKEDOWN_INCOMPLETE, f"Unpublished, but {serving} link(s) given out earlier still serve the file."
                )
            )
        return problems

    def _serves(self, url: str) -> bool:
        """Whether the link answers with the file (a one-byte range); a refused or failing link does not serve."""
        try:
            check_public_url(url)
            with destinations.open_stream(self.http, url, headers={"Range": "bytes=0-0"}) as response:
                return response.status_code in SERVING
        except (PublishError, destinations.DestinationRefused, httpx.HTTPError):
            return False

    @staticmethod
    def _media_problems(doc: dict, media: dict | None) -> list[Problem]:
        if media is None:
            return [Problem(MEDIA_MISSING, "PayloadCMS has no media document for this audit_log_id.")]
        problems = []
        if media.get("storage_path") != doc.get("storage_path"):
            problems.append(
                Problem(
                    PATH_MISMATCH,
                    f"The record's storage_path is {doc.get('storage_path')!r}, "
                    f"the media document's {media.get('storage_path')!r}.",
                )
            )
        if (media.get("checksum") or "").lower() != (doc.get("checksum") or "").lower():
            problems.append(
                Problem(
                    CHECKSUM_MISMATCH,
                    f"The record's checksum is {doc.get('checksum')!r}, "
                    f"the media document's {media.get('checksum')!r}.",
                )
            )
        return problems

    def _url_problems(self, url: str, expected_size: int | None, expected_checksum: str) -> list[Problem]:
        """GET the public URL: a one-byte range normally, the whole file when hashing it.

        Messages never quote the URL: signed URLs carry tokens, and the audit_log_id identifies the record.
        """
        try:
            check_public_url(url)
        except PublishError:
            return [Problem(URL_UNREACHABLE, "public_url is not an absolute HTTPS URL; nothing was fetched.")]
        # The file as stored: no compression to undo (nor a decompression bomb), sizes comparable with filesize.
        headers = {"Accept-Encoding": "identity"} if self.stream_checksum else {"Range": "bytes=0-0"}
        try:
            with destinations.open_stream(self.http, url, headers=headers) as response:
                return self._response_problems(response, expected_size, expected_checksum)
        except destinations.DestinationRefused as refused:
            return [Problem(URL_UNREACHABLE, f"public_url was not fetched: {refused.reason}.")]
        except httpx.HTTPError as exc:
            return [Problem(URL_UNREACHABLE, f"public_url did not answer ({exc.__class__.__name__}).")]

    def _response_problems(self, response: httpx.Response, expected_size: int | None, expected_checksum: str):
        accepted = (200,) if self.stream_checksum else (200, 206)
        if response.status_code not in accepted:
            return [Problem(URL_UNREACHABLE, f"public_url answered HTTP {response.status_code}.")]
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "video/mp4":
            return [Problem(URL_UNREACHABLE, f"public_url serves {content_type or 'no content type'}, not video/mp4.")]
        problems = []
        size = _declared_size(response)
        if self.stream_checksum:
            digest = hashlib.sha256()
            size = 0
            for chunk in response.iter_raw(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
            if f"sha256:{digest.hexdigest()}" != expected_checksum:
                problems.append(
                    Problem(
                        CHECKSUM_MISMATCH, f"The served file hashes to sha256:{digest.hexdigest()}, not the record's."
                    )
                )
        if expected_size is not None and size != expected_size:
            served = f"{size} bytes" if size is not None else "no size (neither Content-Length nor Content-Range)"
            problems.append(
                Problem(SIZE_MISMATCH, f"public_url serves {served}; the media document has {expected_size}.")
            )
        return problems


def _declared_size(response: httpx.Response) -> int | None:
    """The whole file's size: the total of a 206's Content-Range, else a 200's Content-Length."""
    if response.status_code == 206:
        total = response.headers.get("content-range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("content-length", "")
    return int(length) if length.isdigit() else None


class _Results:
    """Counts on the run, checks and findings saved in batches."""

    def __init__(self, run: VerificationRun):
        self.run = run
        self.checks: list[RecordCheck] = []
        self.findings: list[VerificationFinding] = []

    def add(self, audit_log_id: str, problems: list[Problem], expired: bool) -> None:
        self.run.records_checked += 1
        self.run.records_with_problems += bool(problems)
        self.run.records_expired += expired
        codes = ",".join(sorted({problem.code for problem in problems}))
        self.checks.append(
            RecordCheck(
                run=self.run, audit_log_id=audit_log_id, checked_at=timezone.now(), codes=codes, expired=expired
            )
        )
        self.findings += [
            VerificationFinding(run=self.run, audit_log_id=audit_log_id, code=problem.code, message=problem.message)
            for problem in problems
        ]
        if len(self.checks) >= SAVE_BATCH:
            self.save()

    def save(self) -> None:
        RecordCheck.objects.bulk_create(self.checks)
        VerificationFinding.objects.bulk_create(self.findings)
        self.checks, self.findings = [], []


def report(run: VerificationRun) -> dict:
    """The run as `verify_distribution --json` prints it; `problems` lists findings only, never sound records."""
    return {
        "run_id": run.pk,
        "status": run.status,
        "options": run.options,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at) if run.finished_at else None,
        "records_checked": run.records_checked,
        "records_sound": run.records_checked - run.records_with_problems,
        "records_with_problems": run.records_with_problems,
        "records_expired": run.records_expired,
        "expired": list(
            run.checks.filter(expired=True).order_by("audit_log_id").values_list("audit_log_id", flat=True)
        ),
        "problem_counts": problem_counts(run),
        "problems": [
            {"audit_log_id": audit_log_id, "code": code, "message": message}
            for audit_log_id, code, message in run.findings.values_list("audit_log_id", "code", "message").iterator()
        ],
    }


def problem_counts(run: VerificationRun | None) -> dict[str, int]:
    """Findings per code (every code, zeros included) of a run."""
    counts = dict.fromkeys(CODES, 0)
    if run is not None:
        counts.update(run.findings.values_list("code").annotate(n=Count("id")).order_by())
    return counts


def latest_finished_run() -> VerificationRun | None:
    """The newest run that checked everything it selected (failed runs are partial; an empty one checked nothing)."""
    return VerificationRun.objects.filter(
        status__in=[VerificationRun.Status.SOUND, VerificationRun.Status.PROBLEMS, VerificationRun.Status.NOTHING]
    ).first()
