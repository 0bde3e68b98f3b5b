"""The plugin's one error: a stable code and a message naming what and where.

Raised from an exported method, it reaches the RPC client as `PiecepayError` with the one line
`error[<code>]: <message>`; the same line goes to deluged's log. Deluge's RPC server sends an error's
type and arguments only for its own DelugeError (anything else arrives as a WrappedException with a
traceback), so inside deluged this is one; the settings' tests run on a Python without Deluge.
"""
try:
    from deluge.error import DelugeError as _Base
except ImportError:
    _Base = Exception


class PiecepayError(_Base):
    def __init__(self, code, message):
        text = 'error[%s]: %s' % (code, message)
        Exception.__init__(self, text)
        self.code, self.message, self.text = code, message, text
        # What Deluge's RPC sends as the error's arguments: the whole line, not (code, message).
        self._args, self._kwargs = (text,), {}

    def __str__(self):
        return self.text
