"""Minimal GGUF reader/writer for kiln's reference scripts (numpy only)."""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
VALUE_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
TENSOR_DTYPES = {0: np.float32, 1: np.float16}
BF16 = 30


class Reader:
    def __init__(self, path):
        self.buf = open(path, "rb").read()
        self.pos = 0
        if self.buf[:4] != GGUF_MAGIC:
            raise ValueError(f"{path}: not a GGUF file")
        self.pos = 4
        self.version = self._unpack("<I")
        n_tensors = self._unpack("<Q")
        n_kv = self._unpack("<Q")
        self.metadata = {}
        for _ in range(n_kv):
            key = self._string()
            self.metadata[key] = self._value(self._unpack("<I"))
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._unpack("<I")
            dims = [self._unpack("<Q") for _ in range(n_dims)]
            ttype = self._unpack("<I")
            offset = self._unpack("<Q")
            infos.append((name, dims, ttype, offset))
        align = self.metadata.get("general.alignment", 32)
        data_start = (self.pos + align - 1) // align * align
        self.tensors = {}
        for name, dims, ttype, offset in infos:
            count = int(np.prod(dims))
            start = data_start + offset
            if ttype == BF16:
                raw = np.frombuffer(self.buf, np.uint16, count, start).astype(np.uint32) << 16
                arr = raw.view(np.float32)
            else:
                arr = np.frombuffer(self.buf, TENSOR_DTYPES[ttype], count, start).astype(np.float32)
            # GGUF lists dims fastest-first; numpy wants slowest-first.
            self.tensors[name] = arr.reshape(list(reversed(dims)))

    def _unpack(self, fmt):
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def _string(self):
        n = self._unpack("<Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8", errors="surrogateescape")
        self.pos += n
        return s

    def _value(self, vtype):
        if vtype == STRING:
            return self._string()
        if vtype == ARRAY:
            etype = self._unpack("<I")
            n = self._unpack("<Q")
            return [self._value(etype) for _ in range(n)]
        return self._unpack(VALUE_FORMATS[vtype])


class Writer:
    """Writes a GGUF v3 file; tensors are written one at a time, as their data is produced."""

    def __init__(self, alignment=32):
        self.alignment = alignment
        self.kv = []
        self.tensors = []  # (name, dims fastest-first, ggml type, n_bytes, producer)

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value))

    def add_tensor(self, name, dims, ttype, n_bytes, producer):
        self.tensors.append((name, list(dims), ttype, n_bytes, producer))

    @staticmethod
    def _string(s):
        b = s.encode("utf-8") if isinstance(s, str) else s
        return struct.pack("<Q", len(b)) + b

    def _value(self, vtype, value):
        if vtype == STRING:
            return self._string(value)
        if vtype == ARRAY:
            etype, items = value
            out = struct.pack("<IQ", etype, len(items))
            if etype == STRING:
                return out + b"".join(self._string(s) for s in items)
            return out + b"".join(struct.pack(VALUE_FORMATS[etype], x) for x in items)
        return struct.pack(VALUE_FORMATS[vtype], value)

    def write(self, path):
        pad = lambda n: (self.alignment - n % self.alignment) % self.alignment
        head = bytearray(GGUF_MAGIC + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)))
        for key, vtype, value in self.kv:
            head += self._string(key) + struct.pack("<I", vtype) + self._value(vtype, value)
        offset = 0
        for name, dims, ttype, n_bytes, _ in self.tensors:
            head += self._string(name) + struct.pack("<I", len(dims))
            head += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ttype, offset)
            offset += n_bytes + pad(n_bytes)
        head += b"\0" * pad(len(head))
        with open(path, "wb") as f:
            f.write(head)
            for name, _, _, n_bytes, producer in self.tensors:
                data = producer()
                assert len(data) == n_bytes, name
                f.write(data)
                f.write(b"\0" * pad(n_bytes))
