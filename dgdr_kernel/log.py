"""The package logger; modules log through `logging.getLogger(__name__)`."""

import logging

logger = logging.getLogger("dgdr_kernel")
logger.addHandler(logging.NullHandler())
