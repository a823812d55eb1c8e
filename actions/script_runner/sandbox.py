"""The namespaces a script runs in (RULES.md §6): no engine, no network, nothing of the host to write.

Used by `child.py` (so: the standard library only). The worker of a supervisor calls `enter()` at
boot, before it reads its job, so the set-up (a few milliseconds) is off the latency path:

    supervisor -> worker: unshare(mount, pid, network, IPC, UTS [, user])
               -> init (pid 1 of the new pid namespace): builds the file-system view, reaps
               -> script process (pid 2): reads the job, sets limits, drops privileges, runs it

* Who the script is. Root engine: a per-run uid (`child._sandbox_uid`), set after the job is read.
  Non-root engine (the Docker image): an unprivileged user namespace mapping only the engine's uid
  (seen inside as `INNER_ID`); every capability is dropped before the script runs, and
  no-new-privileges is set, so it cannot undo the mounts below or gain privileges by `execve`.
* What it sees. A new root (a read-only tmpfs) with read-only binds of the system directories
  (`SYSTEM_PATHS`) and of the interpreter's prefix, a fresh /proc of its own pid namespace (the
  engine and every other process are not in it, so their /proc/<pid>/environ cannot be opened nor
  their pids signalled), a minimal /dev, and a private tmpfs on /tmp, also bound on /var/tmp and
  /dev/shm. The project, its recovery folder, secrets and the host's /tmp are not there. The tmpfs
  lives in the run's mount namespace only: it is gone when the run's last process is.
* Network. A new network namespace with only a loopback that is down: no address, even 127.0.0.1,
  is reachable. (`network: true` is refused by the runner: see `ScriptRunner`.)
* /proc cannot always be mounted (a container that masks parts of the host's /proc forbids it in a
  user namespace): the script then gets an empty /proc, which isolates as well.

Any failure raises `IsolationUnavailable` naming the step: the runner refuses to run scripts then,
rather than run them unisolated.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME = 16384, 1 << 18, 1 << 21
MNT_DETACH = 2
ST_TO_MS = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
            (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME))

PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}

INNER_ID = 1000  # the script's uid/gid inside the user namespace (not 0: execve grants no capability)
STAGE = "/tmp"  # where the new root is assembled, in our own mount namespace (hides the host's /tmp)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ssl/certs",
                "/etc/ssl/openssl.cnf", "/etc/ca-certificates", "/etc/localtime", "/etc/ld.so.cache",
                "/etc/alternatives")  # not /etc/ssl/private: the engine's groups may read it
DEVICES = ("null", "zero", "full", "random", "urandom")
TMP_MB = 64  # the private /tmp of a run (a remount to the run's memory_mb cost 3.5 ms of its 10)
TMP_OPTIONS = f"mode=1777,size={TMP_MB}m,nr_inodes=4096"

_libc = ctypes.CDLL(None, use_errno=True)


def _last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 63  # dropping a capability the kernel does not have fails: see drop_capabilities


CAP_LAST = _last_capability()  # read at import: the sandbox's /proc may be empty


class IsolationUnavailable(Exception):
    """The deployment cannot isolate scripts; the message says which step failed and why."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        msg = f"{what}: {os.strerror(err)} (errno {err})"
        raise IsolationUnavailable(msg)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), flags,
                       data and data.encode()), f"mount {source or ''} on {target}")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(text)
    except OSError as exc:
        msg = f"writing {path}: {exc.strerror}"
        raise IsolationUnavailable(msg) from None


def rootless() -> bool:
    """True when the run needs a user namespace (the engine is not root, or root without a full
    uid map, i.e. itself inside a user namespace).
    """
    return os.geteuid() != 0


def unshare(user_namespace: bool) -> None:
    """Worker, step 1: new namespaces; children go into the new pid namespace."""
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    if not user_namespace:
        _check(_libc.unshare(flags), "unshare(mount, pid, network, IPC, UTS namespaces)")
        return
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(flags | CLONE_NEWUSER),
           "unshare(user, mount, pid, network, IPC, UTS namespaces) -- unprivileged user namespaces"
           " are needed when the engine is not root (sysctl user.max_user_namespaces > 0; in Docker:"
           " a seccomp profile that allows unshare)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{INNER_ID} {uid} 1\n")
    _write("/proc/self/gid_map", f"{INNER_ID} {gid} 1\n")


def _bind_readonly(source: str, target: str) -> None:
    """A read-only bind of `source`; flags the source mount has (nosuid, atime...) are kept, as a
    user namespace may not clear them.
    """
    _mount(source, target, None, MS_BIND | MS_REC)
    kept = os.statvfs(source).f_flag
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
    flags |= sum(ms for st, ms in ST_TO_MS if kept & st and ms not in (MS_NOSUID, MS_NODEV))
    _mount(None, target, None, flags)


def _place(source: str, root: str) -> None:
    """Make `source` appear at the same path under `root`: a symlink as a symlink, else a bind."""
    target = root + source
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
        return
    if os.path.isdir(source):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        open(target, "a").close()
    _bind_readonly(source, target)


def visible_paths() -> list[str]:
    """The host paths a script sees (read-only): the system directories and the interpreter."""
    paths = [p for p in SYSTEM_PATHS if os.path.lexists(p)]
    prefix = os.path.realpath(sys.base_prefix)
    if prefix != "/" and not any(prefix == p or prefix.startswith(p + "/") for p in paths):
        paths.append(prefix)
    return paths


def build_root(user_namespace: bool) -> None:
    """Init, step 2 (pid 1 of the new pid namespace, still privileged in it): the file-system view
    described in the module docstring, then `pivot_root` into it; the host's tree is detached.
    In the run's own user namespace, the script may create no nested one (each would give it
    every capability over new namespaces: kernel attack surface it has no use for).
    """
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount propagates to the host
    root = STAGE
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m,nr_inodes=1024")
    for path in visible_paths():
        try:
            _place(path, root)
        except OSError as exc:
            msg = f"showing {path} to scripts: {exc.strerror}"
            raise IsolationUnavailable(msg) from None
    os.mkdir(root + "/proc", 0o555)
    try:
        _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except IsolationUnavailable:
        pass  # an empty /proc (see the module docstring)
    else:
        if user_namespace:
            _write(root + "/proc/sys/user/max_user_namespaces", "0")
    os.mkdir(root + "/dev", 0o755)
    _mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=64")
    for name in DEVICES:
        open(f"{root}/dev/{name}", "a").close()
        _mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    for path in ("/tmp", "/var/tmp", "/dev/shm"):
        os.makedirs(root + path, mode=0o755, exist_ok=True)
    _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, TMP_OPTIONS)
    for path in ("/var/tmp", "/dev/shm"):
        _mount(root + "/tmp", root + path, None, MS_BIND)
    os.mkdir(root + "/.old")
    syscall = SYS_PIVOT_ROOT.get(platform.machine())
    if syscall is None:
        msg = f"pivot_root: unknown system call number on {platform.machine()}"
        raise IsolationUnavailable(msg)
    _check(_libc.syscall(syscall, root.encode(), (root + "/.old").encode()), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "detaching the host's file system")
    os.rmdir("/.old")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32))


def drop_capabilities() -> None:
    """Script process in a user namespace, just before the script: no capability left, none to
    regain (bounding and ambient sets emptied too).
    """
    for cap in range(CAP_LAST + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"dropping capability {cap}")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient capabilities")
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(_CapHeader(LINUX_CAPABILITY_VERSION_3, 0)), data), "capset")
