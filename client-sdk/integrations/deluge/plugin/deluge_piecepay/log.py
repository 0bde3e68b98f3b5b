"""The plugin's logger, whose lines reach deluged's log whatever level deluged runs at.

Deluge 2.0.3's logger class breaks on Python 3.11 (its findCaller() takes the pre-3.8 arguments, so
every record it emits raises), which is why deluged runs with `-L warning` or `-L error` there; and at
those levels a plugin's info lines would be dropped. This logger is the standard library's class, not
registered with logging's manager (so Deluge's class is never used for it), and hands its records to
the root logger's handlers directly: deluged's log file or stdout, as deluged set them up.
"""
import logging


class _DelugeHandlers(logging.Handler):
    def emit(self, record):
        for handler in logging.getLogger().handlers:
            handler.handle(record)


log = logging.Logger('piecepay', logging.INFO)
log.propagate = False
log.addHandler(_DelugeHandlers())
