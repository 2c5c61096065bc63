"""One error hierarchy for everything mailbot raises on purpose."""


class MailbotError(Exception):
    """Base of every error mailbot raises deliberately."""


class ConfigError(MailbotError):
    """The configuration is invalid; the message names file, key and problem."""

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        super().__init__(f"{path}: {key}: {problem}")


class TemplateError(MailbotError):
    """A template is missing or does not render."""


class StoreError(MailbotError):
    """The state folder cannot be read or written safely."""


class StateReadOnly(StoreError):
    """The state folder cannot be written (a read-only filesystem, a folder the user may not write):
    the commands that only read go on; `run` exits with its own status (4), which the unit does
    not restart on."""

    def __init__(self, path: object, problem: object) -> None:
        super().__init__(
            f"thư mục trạng thái {path} không ghi được ({problem}) / the state folder is read-only: "
            f"remount it read-write or give the service's user write access (docs/operator.md); "
            f"status, review, roster and check still read it"
        )


class RecordError(MailbotError, ValueError):
    """A record that cannot be stored (text that is not valid Unicode, a value JSON cannot hold).

    Raised before anything is written, so that one message's bad record sets that message
    aside instead of failing the group commit of every message around it."""


class StateDamaged(StoreError):
    """A file of the register does not load. mailbot never overwrites it; the message says how to restore."""

    def __init__(self, path: object, problem: object) -> None:
        super().__init__(
            f"{path} is damaged ({problem}). mailbot will not start on it and will not overwrite it. "
            f"Stop the service and restore the state folder from the latest backup "
            f'(`mailbot backup`; docs/operator.md, "Sao lưu và khôi phục"); keep the damaged folder aside'
        )


class BlobDamaged(StoreError):
    """A stored file (raw message, attachment, composed reply) is missing, empty or does not hash
    to its name: never used as it is."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"tệp lưu trữ {path} bị hỏng: {problem}")
        self.path = path


class SendError(MailbotError):
    """An outgoing mail could not be handed to the SMTP server."""

    def __init__(
        self,
        message: str,
        permanent: bool,
        code: int | None = None,
        uncertain: bool = False,
        connection: bool = False,
    ) -> None:
        self.permanent = permanent
        self.code = code
        self.uncertain = uncertain  # lost after the final dot: the server may well have taken it (RFC 1047)
        self.connection = connection  # no mail was offered (connect, TLS, login): the same for every mail
        super().__init__(message)


class TokenError(MailbotError):
    """oauth_token_command gave no usable access token (the message never holds what it printed)."""


class SourceError(MailbotError):
    """The mailbox cannot be read."""

    retry_after: float | None = None  # seconds the server asked us to wait (throttling)


class MailboxBusy(SourceError):
    """Another live mailbot works this mailbox: the daemon waits and retries, `run --once` stops."""

    retry_after = 10.0


class ReaderError(MailbotError):
    """A file could not be read, for a reason staff should read as it is (Vietnamese): a converter
    that is not installed, or one that ran out of time."""


class OverBudget(ReaderError):
    """Reading a file took longer than its time budget: the whole message goes to review with the
    reason, instead of being classified on what could be read."""
