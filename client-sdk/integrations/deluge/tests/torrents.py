"""Generated content and its .torrent (BitTorrent v1, one file), without libtorrent: the test runner's
Python is not Debian's."""
import hashlib
import os


def bencode(value):
    if isinstance(value, int):
        return b'i%de' % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b'%d:%s' % (len(value), value)
    if isinstance(value, list):
        return b'l' + b''.join(bencode(v) for v in value) + b'e'
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b'd' + b''.join(bencode(k) + bencode(v) for k, v in items) + b'e'
    raise TypeError(type(value))


def make(directory, name, size, piece_length=256 * 1024, seed=1):
    """Writes `size` bytes of deterministic pseudo-random content to directory/name; returns
    (torrent bytes, info-hash hex)."""
    os.makedirs(directory, exist_ok=True)
    pieces = []
    block = hashlib.sha256(b'piecepay-deluge-%d' % seed).digest() * (piece_length // 32)
    with open(os.path.join(directory, name), 'wb') as f:
        for index in range((size + piece_length - 1) // piece_length):
            # Each piece differs (its index is mixed in), so no two pieces hash alike.
            data = (index.to_bytes(8, 'big') + block)[: min(piece_length, size - index * piece_length)]
            f.write(data)
            pieces.append(hashlib.sha1(data).digest())
    info = {'name': name, 'length': size, 'piece length': piece_length, 'pieces': b''.join(pieces)}
    return bencode({'info': info, 'created by': 'piecepay deluge tests'}), hashlib.sha1(bencode(info)).hexdigest()
