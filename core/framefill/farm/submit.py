"""Submit a job bundle to AWS Deadline Cloud (``framefill farm submit``).

Submission goes through ``deadline.client.api.create_job_from_job_bundle``,
the same call as ``deadline bundle submit``. Before it, one quick
``GetQueue`` call with short timeouts and no retries checks region,
credentials, farm and queue, so a machine without credentials or network fails
in seconds with one line instead of a traceback or a long retry loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from configparser import ConfigParser
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from framefill.errors import FarmError, InputError
from framefill.farm.bundle import bundle_template_path
from framefill.farm.templates import read_template_file, validate_template

__all__ = ["submit_bundle", "PREFLIGHT_CONNECT_TIMEOUT_S", "PREFLIGHT_READ_TIMEOUT_S"]

# The pre-flight call only has to reach the regional endpoint; a few seconds is
# ample on any working network and keeps an offline machine from hanging.
PREFLIGHT_CONNECT_TIMEOUT_S = 5
PREFLIGHT_READ_TIMEOUT_S = 15

_NOISY_LOGGERS = ("deadline", "botocore", "boto3", "urllib3", "s3transfer", "openjd")


def submit_bundle(
    bundle_dir: str | os.PathLike[str],
    *,
    farm_id: str | None = None,
    queue_id: str | None = None,
    profile: str | None = None,
    assume_yes: bool = False,
    print_fn: Callable[[str], None] | None = None,
) -> str:
    """Submit ``bundle_dir`` to Deadline Cloud and return the job id.

    Farm, queue and profile come from the arguments or from the Deadline
    configuration (``deadline config set defaults.farm_id ...``). Confirmations
    that the deadline client asks for (job attachments outside storage
    profiles, submission hooks) are declined unless ``assume_yes``.

    Raises:
        InputError: no bundle at ``bundle_dir``.
        TemplateError: the bundle's template does not validate.
        FarmError: no farm/queue configured, no region or credentials, the
            service refused, or the upload failed (one line, exit code 2).
    """
    folder = Path(bundle_dir).expanduser()
    if not folder.is_dir():
        raise InputError(f"no job bundle folder at {folder}; make one with `framefill farm bundle`")
    template_file = bundle_template_path(folder)
    validate_template(read_template_file(template_file), where=f"job template {template_file}")

    with _quiet_aws_logging():
        try:
            from botocore.exceptions import BotoCoreError, ClientError
            from deadline.client import api
            from deadline.client.config import config_file
            from deadline.client.exceptions import (
                DeadlineOperationError,
                NonValidInputError,
            )
            from deadline.job_attachments.exceptions import (
                AssetSyncError,
                JobAttachmentsError,
            )
        except ImportError as err:
            raise FarmError(f"the deadline client is not installed ({err.name}); pip install 'framefill[farm]'") from err

        config = _config_copy(config_file.read_config())
        if farm_id:
            config_file.set_setting("defaults.farm_id", farm_id, config=config)
        if queue_id:
            config_file.set_setting("defaults.queue_id", queue_id, config=config)
        if profile:
            config_file.set_setting("defaults.aws_profile_name", profile, config=config)
        farm = config_file.get_setting("defaults.farm_id", config=config)
        queue = config_file.get_setting("defaults.queue_id", config=config)
        if not farm or not queue:
            missing = " and ".join(n for n, v in (("--farm-id", farm), ("--queue-id", queue)) if not v)
            raise FarmError(
                f"no Deadline Cloud farm/queue: pass {missing}, or set them with "
                "`deadline config set defaults.farm_id FARM` and `... defaults.queue_id QUEUE`"
            )

        try:
            _preflight(api, config, farm, queue)
            confirm: Callable[[str, bool], bool] = (lambda msg, default: True) if assume_yes else _decline
            job_id = api.create_job_from_job_bundle(
                str(folder),
                config=config,
                print_function_callback=print_fn or (lambda _msg: None),
                interactive_confirmation_callback=confirm,
                submitter_name="framefill",
            )
        except _Declined as err:
            raise FarmError(f"submission needs a confirmation ({err}); rerun with --yes to accept it") from err
        except (BotoCoreError, ClientError, DeadlineOperationError) as err:
            raise FarmError(_aws_message(err, farm, queue)) from err
        except (AssetSyncError, JobAttachmentsError, NonValidInputError, ValueError, OSError) as err:
            # Job attachments (hashing, S3 upload) and bundle parsing inside the deadline client.
            raise FarmError(f"submission failed: {type(err).__name__}: {' '.join(str(err).split())}") from err
    if not job_id:
        raise FarmError("Deadline Cloud returned no job id; check the queue in Deadline Cloud monitor")
    return str(job_id)


class _Declined(Exception):
    """The deadline client asked to confirm something and we said no (no --yes)."""


def _decline(message: str, default: bool) -> bool:  # noqa: ARG001
    raise _Declined(" ".join(str(message).split())[:300])


def _config_copy(config: ConfigParser) -> ConfigParser:
    # read_config() returns the client's cached global; changing it would leak the
    # farm/queue of this submission into later calls in the same process.
    copy = ConfigParser()
    copy.read_dict(config)
    return copy


def _preflight(api: Any, config: ConfigParser, farm: str, queue: str) -> None:
    """One GetQueue with short timeouts and no retries: region, credentials, farm and queue at once."""
    from botocore.config import Config

    session = api.get_boto3_session(config=config)
    region = _farm_region(config)
    client = session.client(
        "deadline",
        region_name=region or None,
        config=Config(
            connect_timeout=PREFLIGHT_CONNECT_TIMEOUT_S,
            read_timeout=PREFLIGHT_READ_TIMEOUT_S,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )
    client.get_queue(farmId=farm, queueId=queue)


def _farm_region(config: ConfigParser) -> str:
    from deadline.client.config import config_file

    try:
        return str(config_file.get_setting("defaults.farm_region", config=config) or "")
    except Exception:  # noqa: BLE001 - older deadline clients have no such setting
        return ""


def _aws_message(err: BaseException, farm: str, queue: str) -> str:
    name = type(err).__name__
    text = " ".join(str(err).split())
    if name == "NoRegionError":
        return "no AWS region for Deadline Cloud: set one with `aws configure` or AWS_DEFAULT_REGION"
    if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "SSOTokenLoadError",
                "UnauthorizedSSOTokenError", "TokenRetrievalError"):
        return "no AWS credentials for Deadline Cloud: log in with Deadline Cloud monitor or `aws configure`"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"):
        return f"cannot reach Deadline Cloud ({text}); check the network and proxy settings"
    if name == "ClientError":
        response = getattr(err, "response", {}) or {}
        error = response.get("Error", {}) if isinstance(response, dict) else {}
        code = error.get("Code", "ClientError")
        msg = " ".join(str(error.get("Message", text)).split())
        if code in ("ResourceNotFoundException", "ValidationException"):
            return f"Deadline Cloud: farm {farm} / queue {queue}: {code}: {msg}"
        return f"Deadline Cloud refused the request: {code}: {msg}"
    return f"Deadline Cloud submission failed: {name}: {text}"


@contextmanager
def _quiet_aws_logging() -> Iterator[None]:
    """Keep botocore and the deadline client from printing warnings to stderr.

    Without any handler Python's last-resort handler prints WARNING lines; a
    NullHandler for the duration of the call stops that and is removed after.
    """
    handlers: list[tuple[logging.Logger, logging.Handler]] = []
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        handler: logging.Handler = logging.NullHandler()
        logger.addHandler(handler)
        handlers.append((logger, handler))
    try:
        yield
    finally:
        for logger, handler in handlers:
            logger.removeHandler(handler)
