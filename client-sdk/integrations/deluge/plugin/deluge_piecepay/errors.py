"""The plugin's one error: a stable code and a message naming what and where; its text is the line
`error[<code>]: <message>` that goes to deluged's log and, through core.rpc_errors, to RPC clients."""


class PiecepayError(Exception):
    def __init__(self, code, message):
        self.code, self.message = code, message
        super().__init__('error[%s]: %s' % (code, message))
