"""The cpio "newc" format (what the Linux kernel unpacks as an initramfs), written from Python:
there is no cpio binary on the build machine, and device nodes must exist only inside the
archive (no root rights needed).

Each record is "070701", 13 eight-hex-digit fields, the NUL-terminated name padded to 4 bytes,
then the data padded to 4 bytes; "TRAILER!!!" ends the archive. Everything is owned by root
with mtime 0, so an archive is byte-for-byte reproducible.
"""
import gzip
import stat


def entry(ino, name, mode, data=b"", rdev=(0, 0), nlink=1):
    """One newc record: header, NUL-terminated name and data, each padded to 4 bytes."""
    name_bytes = name.encode() + b"\0"
    fields = [
        ino, mode, 0, 0, nlink, 0, len(data),  # ino mode uid gid nlink mtime filesize
        0, 0, rdev[0], rdev[1],                # devmajor devminor rdevmajor rdevminor
        len(name_bytes), 0,                    # namesize check
    ]
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = header + name_bytes
    out += b"\0" * (-len(out) % 4)
    out += data
    out += b"\0" * (-len(out) % 4)
    return out


class Archive:
    """Records in the order added; inode numbers from 1 up."""

    def __init__(self):
        self.records = []

    def _add(self, name, mode, **kw):
        self.records.append(entry(len(self.records) + 1, name, mode, **kw))

    def dir(self, name):
        self._add(name, stat.S_IFDIR | 0o755, nlink=2)

    def file(self, name, data, mode=0o644):
        self._add(name, stat.S_IFREG | mode, data=data)

    def symlink(self, name, target):
        self._add(name, stat.S_IFLNK | 0o777, data=target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        self._add(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def gzipped(self):
        """The archive, trailer and 512-byte padding included, gzip'd without a timestamp."""
        archive = b"".join(self.records) + entry(0, "TRAILER!!!", 0)
        archive += b"\0" * (-len(archive) % 512)
        return gzip.compress(archive, compresslevel=6, mtime=0)
