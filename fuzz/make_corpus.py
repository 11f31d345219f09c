#!/usr/bin/env python3
"""fuzz/make_corpus.py: writes the seed corpus of the dataset harnesses
(fuzz/corpus/{cifar,idx,gzip,tar}/). Small valid inputs in each exact format,
plus a few near misses; libFuzzer mutates from there. Deterministic."""
import gzip, io, os, struct, tarfile

here = os.path.dirname(os.path.abspath(__file__))

def put(kind, name, data):
    d = os.path.join(here, 'corpus', kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)

def gz(b):   # fixed mtime, so the bytes do not change between runs
    return gzip.compress(b, compresslevel=6, mtime=0)

def pixels(seed):
    return bytes((i * 7 + seed * 31) & 255 for i in range(3072))

# CIFAR: byte 0 selects the format (bit 0: CIFAR-100, bit 1: coarse labels)
c10 = b''.join(bytes([lab]) + pixels(i) for i, lab in enumerate([3, 9]))
c100 = b''.join(bytes([c, f]) + pixels(i) for i, (c, f) in enumerate([(4, 42), (19, 99)]))
put('cifar', 'c10_two_records', b'\x00' + c10)
put('cifar', 'c100_fine', b'\x01' + c100)
put('cifar', 'c100_coarse', b'\x03' + c100)
put('cifar', 'c10_bad_label', b'\x00' + bytes([10]) + pixels(5))
put('cifar', 'c10_truncated', b'\x00' + c10[:-1])

# IDX: bytes 0-1 = length of the image file, then images, then labels
def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b''.join(struct.pack('>I', d) for d in dims) + payload

im = idx([3, 4, 4], bytes(range(48)))
lb = idx([3], bytes([1, 2, 9]))
def pair(a, b):
    return struct.pack('<H', len(a)) + a + b
put('idx', 'plain', pair(im, lb))
put('idx', 'gzip', pair(gz(im), gz(lb)))
put('idx', 'mixed', pair(gz(im), lb))
put('idx', 'bad_label', pair(im, idx([3], bytes([1, 2, 10]))))
put('idx', 'count_mismatch', pair(im, idx([2], bytes([1, 2]))))

# gzip: plain, one member, two members, truncated
text = b'normlab gzip seed ' * 40
put('gzip', 'plain', text)
put('gzip', 'member', gz(text))
put('gzip', 'two_members', gz(text[:300]) + gz(text[300:]))
put('gzip', 'truncated', gz(text)[:-5])
put('gzip', 'empty_member', gz(b''))

# tar: ustar with a directory, files, a GNU long name, a pax path, a symlink
def tar_bytes(fmt, entries):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode='w', format=fmt) as t:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            if kind == 'dir':
                ti.type = tarfile.DIRTYPE
                t.addfile(ti)
            elif kind == 'sym':
                ti.type = tarfile.SYMTYPE
                ti.linkname = 'target'
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()

ents = [('set', 'dir', b''), ('set/data_batch_1.bin', 'file', c10[:700]), ('set/batches.meta.txt', 'file', b'a\nb\n'),
        ('set/link', 'sym', b'')]
longname = 'set/' + 'x' * 150 + '.txt'
put('tar', 'ustar', tar_bytes(tarfile.USTAR_FORMAT, ents))
put('tar', 'gnu_longname.tar.gz', gz(tar_bytes(tarfile.GNU_FORMAT, ents + [(longname, 'file', b'long')])))
put('tar', 'pax_path', tar_bytes(tarfile.PAX_FORMAT, [(longname, 'file', b'pax')]))
put('tar', 'dotdot', tar_bytes(tarfile.USTAR_FORMAT, [('../evil', 'file', b'x')]))
