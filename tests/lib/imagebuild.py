#!/usr/bin/python3
"""Deterministic OCI image builder for berth's image cache tests (python3 stdlib only).

    imagebuild.py SPEC.json OUT_LAYOUT

SPEC describes images; OUT_LAYOUT becomes an OCI image layout (oci-layout, index.json,
blobs/sha256/...) whose index.json names each image by its "tag" (annotation
org.opencontainers.image.ref.name). The same spec always gives the same digests: entries
are written in the order given, with fixed mtimes and owners, gzip with mtime 0.

  {"images": [
     {"tag": "single",
      "platform": "linux/amd64",
      "config": {"Cmd": ["/bin/sh"], "Env": [...], ...},     the image config's "config"
      "layers": [LAYER, ...]},
     {"tag": "multiarch", "index": [IMAGE-without-tag, ...]}  an image index
  ]}

  LAYER: {"compression": "gzip" | "zstd" | "none", "level": 6, "busybox": true, "entries": [ENTRY, ...],
          "tar": "/path/to/prebuilt.tar", "append_garbage": false}
  ENTRY: {"path": "etc/x", "type": "file" | "dir" | "symlink" | "hardlink" | "char" | "block"
          | "fifo", "content": "text", "content_file": "/bin/busybox", "zeros": N,
          "random": N (incompressible bytes, the same for the same path and N),
          "mode": "0644", "uid": 0, "gid": 0, "target": "...", "major": 0, "minor": 0,
          "mtime": 1700000000, "xattrs": {"user.x": "text", "security.capability": "hex:0100..."}}
  Docker v2 schema 2 images come from pushing with skopeo --format v2s2.
  Whiteouts are plain entries named ".wh.NAME" / ".wh..wh..opq", as in OCI layers.
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

EPOCH = 1700000000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


class Layout:
    def __init__(self, out):
        self.out = out
        os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)

    def put(self, data):
        d = hashlib.sha256(data).hexdigest()
        p = os.path.join(self.out, "blobs", "sha256", d)
        if not os.path.exists(p):
            with open(p + ".tmp", "wb") as f:
                f.write(data)
            os.rename(p + ".tmp", p)
        return "sha256:" + d, len(data)


def busybox_entries():
    bb = "/bin/busybox"
    applets = subprocess.run([bb, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    ents = [{"path": d, "type": "dir", "mode": "0755"} for d in
            ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "root", "home", "run", "var"]]
    ents += [{"path": "tmp", "type": "dir", "mode": "1777"}, {"path": "var/tmp", "type": "dir", "mode": "1777"}]
    ents.append({"path": "bin/busybox", "type": "file", "content_file": bb, "mode": "0755"})
    for a in sorted(set(applets)):
        if a == "bin/busybox":
            continue
        ents.append({"path": a, "type": "symlink", "target": "/bin/busybox"})
    ents.append({"path": "etc/passwd", "type": "file", "mode": "0644",
                 "content": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
                            "berth:x:1000:1000::/home/berth:/bin/sh\n"})
    ents.append({"path": "etc/group", "type": "file", "mode": "0644",
                 "content": "root:x:0:\nnogroup:x:65534:\nberth:x:1000:\n"})
    return ents


def xattr_value(v):
    if v.startswith("hex:"):
        return bytes.fromhex(v[4:])
    return v.encode()


def tar_layer(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["path"])
            ti.mtime = e.get("mtime", EPOCH)
            ti.uid, ti.gid = e.get("uid", 0), e.get("gid", 0)
            ti.uname = ti.gname = ""
            typ = e.get("type", "file")
            default_mode = {"dir": "0755", "symlink": "0777"}.get(typ, "0644")
            ti.mode = int(e.get("mode", default_mode), 8)
            if e.get("xattrs"):
                # pax SCHILY.xattr.* records as GNU tar and Go's archive/tar write them; raw
                # bytes survive as surrogate escapes (tarfile then writes hdrcharset=BINARY)
                ti.pax_headers = {"SCHILY.xattr." + k: xattr_value(v).decode("utf-8", "surrogateescape") for k, v in e["xattrs"].items()}
            data = None
            if typ == "file":
                if "content_file" in e:
                    with open(e["content_file"], "rb") as f:
                        data = f.read()
                elif "random" in e:
                    data = pseudo_random(e["path"], e["random"])
                elif "zeros" in e:
                    data = None
                    ti.size = e["zeros"]
                else:
                    data = e.get("content", "").encode()
                ti.type = tarfile.REGTYPE
                if data is not None:
                    ti.size = len(data)
            elif typ == "dir":
                ti.type = tarfile.DIRTYPE
            elif typ == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e["target"]
            elif typ == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e["target"]
            elif typ in ("char", "block"):
                ti.type = tarfile.CHRTYPE if typ == "char" else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = e.get("major", 0), e.get("minor", 0)
            elif typ == "fifo":
                ti.type = tarfile.FIFOTYPE
            else:
                raise SystemExit("unknown entry type %r" % typ)
            if typ == "file" and "zeros" in e:
                t.addfile(ti, ZeroReader(e["zeros"]))
            else:
                t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def pseudo_random(seed, n):
    out, i, key = [], 0, seed.encode()
    while len(out) * 32 < n:
        out.append(hashlib.sha256(key + i.to_bytes(8, "little")).digest())
        i += 1
    return b"".join(out)[:n]


class ZeroReader:
    def __init__(self, n):
        self.left = n

    def read(self, n=-1):
        if n < 0 or n > self.left:
            n = self.left
        self.left -= n
        return bytes(n)


def compress(data, how, level=6):
    if how == "none":
        return data
    if how == "gzip":
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level, mtime=0, filename="") as g:
            g.write(data)
        return out.getvalue()
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3", "--no-check"], input=data, capture_output=True, check=True).stdout
    raise SystemExit("unknown compression %r" % how)


def build_image(lay, spec):
    osname, arch, *variant = spec.get("platform", "linux/amd64").split("/")
    layers, diff_ids = [], []
    for l in spec.get("layers", []):
        if "tar" in l:
            with open(l["tar"], "rb") as f:
                raw = f.read()
        else:
            ents = (busybox_entries() if l.get("busybox") else []) + l.get("entries", [])
            raw = tar_layer(ents)
        how = l.get("compression", "gzip")
        blob = compress(raw, how, l.get("level", 6))
        if l.get("append_garbage"):
            blob += b"garbage after the stream"
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        d, n = lay.put(blob)
        layers.append({"mediaType": LAYER_TYPES[how], "digest": d, "size": n})
    cfg = {"created": "2023-11-14T22:13:20Z", "architecture": arch, "os": osname,
           "config": spec.get("config", {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}),
           "rootfs": {"type": "layers", "diff_ids": diff_ids},
           "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "berth imagebuild.py"}]}
    if variant:
        cfg["variant"] = variant[0]
    if "diff_ids" in spec:  # a lying config, for the DiffID check
        cfg["rootfs"]["diff_ids"] = spec["diff_ids"]
    cd, cn = lay.put(json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode())
    man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": cn},
           "layers": layers}
    md, mn = lay.put(json.dumps(man, sort_keys=True, separators=(",", ":")).encode())
    plat = {"os": osname, "architecture": arch}
    if variant:
        plat["variant"] = variant[0]
    return {"mediaType": man["mediaType"], "digest": md, "size": mn, "platform": plat}


def main():
    spec_path, out = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    lay = Layout(out)
    entries = []
    for img in spec["images"]:
        if "index" in img:
            descs = [build_image(lay, sub) for sub in img["index"]]
            idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}
            d, n = lay.put(json.dumps(idx, sort_keys=True, separators=(",", ":")).encode())
            desc = {"mediaType": idx["mediaType"], "digest": d, "size": n}
        else:
            desc = build_image(lay, img)
            desc.pop("platform", None)
        desc["annotations"] = {"org.opencontainers.image.ref.name": img["tag"]}
        entries.append(desc)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, f, sort_keys=True)
    for e in entries:
        print(e["annotations"]["org.opencontainers.image.ref.name"], e["digest"])


if __name__ == "__main__":
    main()
