#!/usr/bin/env python3
"""oci-image.py ROOTFS OUT [--name REF] [--cmd JSON] [--entrypoint JSON] [--env K=V]...
   [--workdir DIR] [--user USER] [--stop-signal SIG] [--arch ARCH]

Writes an OCI image layout (OUT/oci-layout, OUT/index.json, OUT/blobs/sha256/...) with one
gzip layer made from the ROOTFS directory: entries sorted, owners and modes as on disk, mtimes
fixed, so the same input gives the same digests. The manifest is tagged in index.json with
org.opencontainers.image.ref.name = REF (default "latest"). Used by the agent's tests to get
images into berth's store without a registry (berth image import) or into a test registry
(skopeo copy oci:OUT docker://...). Python's standard library only."""
import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile

MTIME = 1700000000


def add_blob(out, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def layer_tar(rootfs):
    buf = io.BytesIO()
    seen_inodes = {}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = []
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                entries.append(os.path.join(dirpath, name))
        for full in sorted(entries, key=lambda p: os.path.relpath(p, rootfs)):
            rel = os.path.relpath(full, rootfs)
            st = os.lstat(full)
            ti = tarfile.TarInfo(rel)
            ti.uid, ti.gid = st.st_uid, st.st_gid
            ti.uname = ti.gname = ""
            ti.mode = stat.S_IMODE(st.st_mode)
            ti.mtime = MTIME
            if stat.S_ISLNK(st.st_mode):
                ti.type = tarfile.SYMTYPE
                ti.linkname = os.readlink(full)
                tar.addfile(ti)
            elif stat.S_ISDIR(st.st_mode):
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen_inodes:
                    ti.type = tarfile.LNKTYPE
                    ti.linkname = seen_inodes[key]
                    tar.addfile(ti)
                    continue
                seen_inodes[key] = rel
                ti.size = st.st_size
                with open(full, "rb") as f:
                    tar.addfile(ti, f)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rootfs")
    ap.add_argument("out")
    ap.add_argument("--name", default="latest")
    ap.add_argument("--cmd", default='["/bin/sh"]')
    ap.add_argument("--entrypoint", default=None)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--workdir", default="/")
    ap.add_argument("--user", default="")
    ap.add_argument("--stop-signal", default=None)
    ap.add_argument("--arch", default="amd64")
    a = ap.parse_args()

    os.makedirs(os.path.join(a.out, "blobs", "sha256"), exist_ok=True)
    raw = layer_tar(a.rootfs)
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    layer = add_blob(a.out, gz, "application/vnd.oci.image.layer.v1.tar+gzip")
    config = {
        "created": "2023-11-14T22:13:20Z",
        "architecture": a.arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env,
            "Cmd": json.loads(a.cmd),
            "WorkingDir": a.workdir,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "tests/lib/oci-image.py"}],
    }
    if a.entrypoint:
        config["config"]["Entrypoint"] = json.loads(a.entrypoint)
    if a.user:
        config["config"]["User"] = a.user
    if a.stop_signal:
        config["config"]["StopSignal"] = a.stop_signal
    cfg = add_blob(a.out, json.dumps(config, sort_keys=True, separators=(",", ":")).encode(),
                   "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg, "layers": [layer]}
    man = add_blob(a.out, json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode(),
                   "application/vnd.oci.image.manifest.v1+json")
    man["annotations"] = {"org.opencontainers.image.ref.name": a.name}
    index_path = os.path.join(a.out, "index.json")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        index["manifests"] = [m for m in index["manifests"]
                              if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != a.name]
    index["manifests"].append(man)
    with open(index_path, "w") as f:
        json.dump(index, f)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    print(man["digest"])


if __name__ == "__main__":
    main()
