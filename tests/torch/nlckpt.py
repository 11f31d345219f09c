"""Reads and writes normlab's data-only checkpoint format (src/core/checkpoint.h)
from Python, so PyTorch reference runs can exchange tensors with normlab."""
import struct
import zlib

import numpy as np

MAGIC = b"NLCKPT\r\n"


def load(path):
    """Returns an ordered dict name -> numpy float32 array, float or str."""
    buf = open(path, "rb").read()
    if buf[:8] != MAGIC:
        raise ValueError(f"{path}: bad magic")
    (crc,) = struct.unpack_from("<I", buf, len(buf) - 4)
    if zlib.crc32(buf[:-4]) != crc:
        raise ValueError(f"{path}: checksum mismatch")
    version, count = struct.unpack_from("<II", buf, 8)
    assert version == 1, version
    off, out = 16, {}
    for _ in range(count):
        (nlen,) = struct.unpack_from("<H", buf, off); off += 2
        name = buf[off:off + nlen].decode(); off += nlen
        kind = buf[off]; off += 1
        if kind == 0:
            ndim = buf[off]; off += 1
            dims = struct.unpack_from(f"<{ndim}q", buf, off); off += 8 * ndim
            n = int(np.prod(dims)) if ndim else 1
            out[name] = np.frombuffer(buf, dtype="<f4", count=n, offset=off).reshape(dims).copy()
            off += 4 * n
        elif kind == 1:
            (out[name],) = struct.unpack_from("<d", buf, off); off += 8
        else:
            (slen,) = struct.unpack_from("<I", buf, off); off += 4
            out[name] = buf[off:off + slen].decode(); off += slen
    return out


def save(path, entries):
    """entries: list of (name, value) with value an array, a float or a str."""
    body = bytearray(MAGIC + struct.pack("<II", 1, len(entries)))
    for name, v in entries:
        nb = name.encode()
        body += struct.pack("<H", len(nb)) + nb
        if isinstance(v, str):
            sb = v.encode()
            body += b"\x02" + struct.pack("<I", len(sb)) + sb
        elif isinstance(v, (int, float)):
            body += b"\x01" + struct.pack("<d", float(v))
        else:
            a = np.ascontiguousarray(np.asarray(v, dtype="<f4"))
            body += b"\x00" + bytes([a.ndim]) + struct.pack(f"<{a.ndim}q", *a.shape) + a.tobytes()
    body += struct.pack("<I", zlib.crc32(bytes(body)))
    open(path, "wb").write(bytes(body))
