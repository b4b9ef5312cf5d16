"""Errors meant for people: each message is one sentence saying what is wrong and what to do."""


class LabError(Exception):
    """Base class for every error the lab reports to a user."""


class DataError(LabError, ValueError):
    """The data cannot be used as given (missing column, one class, empty file, ...)."""


class ConfigError(LabError, ValueError):
    """A hyperparameter or option is out of range or unknown."""


class ModelLoadError(LabError, OSError):
    """A model, tokenizer or saved run cannot be loaded."""


class TrainingError(LabError, RuntimeError):
    """Training stopped for a reason the user should see (NaN loss, ...)."""


class LimitError(LabError):
    """Work refused because a limit of this server would be exceeded; the message says which."""


class Cancelled(Exception):
    """Raised inside training when the stop flag is set; a run turns it into a `cancelled` result.

    Not a LabError: nothing went wrong, and it must never be shown as a failure.
    """
