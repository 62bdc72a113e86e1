"""The race inside every way a program waits for its connect (issue 16):
poll/select in slices shorter than the delay (rsync), several fds in one
wait (ruby's ppoll with its wake-up pipe), epoll (asyncio, node's libuv,
C event loops: level-triggered, EPOLLET, EPOLLONESHOT), sockets bound to
the wildcard before connecting.

The world: tcp_syn_retries=1 in the client namespace, so a blackholed SYN
gives up after about 3 s; each program without scio is stopped after 2 s
(or gives up on its own timeout), with scio it must be well under a
second.  Fidelity: the program's other fds on time while a race is
pending, epoll's data and flags the program's after a win, a race
dropped cleanly when the program closes the socket, removes it from its
epoll set or forks."""

import os
import re
import subprocess
import textwrap
import time

import pytest

from scio_testlib import (BUILD, PORT, PY, SAN, SCIO_RUN, SLACK, TSAN, not_under_tsan,
                          parse_records, prog, run_scio, san_env)

WITHOUT_S = 2.0  # the lab stops a run without scio after this long
RSYNC_PORT = 8730


@pytest.fixture
def world(lab):
    """The lab with a blackholed SYN given up after ~3 s instead of 127 s."""
    lab.sysctl_client("net.ipv4.tcp_syn_retries", 1)
    return lab


def run(lab, argv, shim=True, timeout=10, **env):
    return run_scio(lab, argv, shim=shim, timeout=timeout, **env)


def without(lab, argv, **env):
    """The same command without scio: it must still be waiting for its
    connect when the lab stops it."""
    res = run(lab, argv, shim=False, timeout=WITHOUT_S, **env)
    assert res.timed_out, res
    return res


def fast(res, bound=1.0):
    assert not res.timed_out and res.elapsed < bound * SLACK, res


def records(res):
    """key=value lines of the C clients: kind -> list of field dicts."""
    out = {}
    for kind, fields in parse_records(res.stdout):
        out.setdefault(kind, []).append(fields)
    return out


# ---- real programs ----

def start_rsyncd(lab, tmp_path):
    """An rsync daemon in the server namespace on the wildcard (both
    families), one read-only module; returns its log file."""
    module = tmp_path / "module"
    module.mkdir()
    (module / "hello.txt").write_text("hello\n")
    log = tmp_path / "rsyncd.log"
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(textwrap.dedent(f"""\
        use chroot = no
        log file = {log}
        [module]
        path = {module}
        read only = yes
        uid = root
        gid = root
        """))
    lab.popen_server(["rsync", "--daemon", "--no-detach", f"--port={RSYNC_PORT}",
                      f"--config={conf}"], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = lab.run_server(["ss", "-Htln", f"( sport = :{RSYNC_PORT} )"]).stdout
        if len(out.splitlines()) >= 2:  # :: and 0.0.0.0
            return log
        time.sleep(0.05)
    raise AssertionError(f"rsync daemon not listening: {out!r}")


# Each prints the greeting line and the seconds its connect took
# (connect_s=...), measured inside the program: its start-up on a loaded
# machine is no part of the race.
RUBY = ('t = Process.clock_gettime(Process::CLOCK_MONOTONIC); '
        's = TCPSocket.new("dual.test", 7000); '
        'd = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t; '
        'puts s.gets; puts "connect_s=#{d}"')
ASYNCIO = textwrap.dedent("""\
    import asyncio, time
    async def main():
        t = time.monotonic()
        r, w = await asyncio.open_connection('dual.test', 7000)
        d = time.monotonic() - t
        print((await r.readline()).decode().strip())
        print(f"connect_s={d}")
    asyncio.run(main())
    """)
NODE = ("const t=process.hrtime.bigint();let d;"
        "const s=require('net').connect(7000,'dual.test',()=>{"
        "d=Number(process.hrtime.bigint()-t)/1e9});"
        "s.on('data',x=>{console.log(String(x).trim());console.log('connect_s='+d);"
        "process.exit(0)});"
        "s.on('error',e=>{console.log('error',e.code);process.exit(1)})")



def node_no_autoselection():
    """Node 20's flag; Debian 12's nodejs (18) knows it by its older name,
    which node 20 still takes."""
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
        major = int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError):
        major = 20
    return ("--no-network-family-autoselection" if major >= 20
            else "--no-enable-network-family-autoselection")


PROGRAMS = {
    "rsync": ["rsync", f"rsync://dual.test:{RSYNC_PORT}/module/"],
    "ruby": ["ruby", "-rsocket", "-e", RUBY],
    "asyncio": [PY, "-c", ASYNCIO],
    "node": ["node", node_no_autoselection(), "-e", NODE],
}


def fast_connect(name, res):
    """Well under a second: the connect inside the program, or rsync's
    whole run (it prints no time of its own)."""
    if name == "rsync":
        fast(res, 1.5)
        return
    m = re.search(r"^connect_s=([0-9.]+)$", res.stdout, re.M)
    assert m and float(m.group(1)) < 1.0 * SLACK, res


# rsync's own signal handler spoils errno, which TSan reports, scio or not
PROGRAM_PARAMS = [pytest.param(n, marks=not_under_tsan) if n == "rsync" else n
                  for n in sorted(PROGRAMS)]


def family_reached(name, res, rsync_log):
    """'ipv4' or 'ipv6': the family the server saw the program arrive on."""
    if name == "rsync":
        assert "hello.txt" in res.stdout, res
        text = rsync_log.read_text()
        if "(192.0.2.2)" in text:
            return "ipv4"
        assert "(2001:db8::2)" in text, text
        return "ipv6"
    m = re.search(r"^hello from \S+ port 7000 via (ipv[46])$", res.stdout, re.M)
    assert m, res
    return m.group(1)


@pytest.mark.parametrize("name", PROGRAM_PARAMS)
def test_program_ipv6_blackholed(world, tmp_path, name):
    log = start_rsyncd(world, tmp_path) if name == "rsync" else None
    world.fault("ipv6", "blackhole")
    res = run(world, PROGRAMS[name], SCIO_LOG="info")
    assert res.returncode == 0, res
    fast_connect(name, res)
    assert family_reached(name, res, log) == "ipv4"
    without(world, PROGRAMS[name])


@pytest.mark.parametrize("name", PROGRAM_PARAMS)
def test_program_both_families_fine(world, tmp_path, name):
    log = start_rsyncd(world, tmp_path) if name == "rsync" else None
    res = run(world, PROGRAMS[name])
    assert res.returncode == 0, res
    fast_connect(name, res)
    assert family_reached(name, res, log) == "ipv6"


# ---- the C epoll client ----

# (mode, wait function, slice): slices shorter and longer than the delay
EPOLL_CASES = [("level", "epoll_wait", 100), ("edge", "epoll_pwait", 1500),
               ("oneshot", "epoll_pwait2", 50)]


def epoll_client(lab, mode, wait="epoll_wait", slice_ms=100, shim=True, bind=(), **env):
    argv = [prog("epoll_client"), *bind, "-w", wait, "-s", str(slice_ms), "-t", "1500",
            mode, "dual.test", PORT]
    res = run(lab, argv, shim=shim, **env)
    assert res.returncode == 0, res
    return records(res), res


def check_epoll_win(recs, res, mode, peer):
    """What the program sees after a win: its data, its flags, one event."""
    assert recs["connected"][0] == {"so_error": "0", "peer": peer, "data_ok": "1",
                                    "ms": recs["connected"][0]["ms"]}, res
    after = recs["after"][0]
    assert after["data_ok"] == "1", res
    # level-triggered: the writable socket is reported again; EPOLLET and
    # EPOLLONESHOT: exactly one writable event for the connect
    assert after["n"] == ("1" if mode == "level" else "0"), res
    assert recs["mod"][0] == {"rc": "0", "errno": "0"}, res
    done = recs["end"][0]
    assert done["writable"] == ("2" if mode == "level" else "1"), res
    assert done["fds_left"] == "0", res


@pytest.mark.parametrize("mode,wait,slice_ms", EPOLL_CASES)
def test_epoll_client_ipv6_blackholed(world, mode, wait, slice_ms):
    world.fault("ipv6", "blackhole")
    recs, res = epoll_client(world, mode, wait, slice_ms, SCIO_LOG="info")
    fast(res)
    check_epoll_win(recs, res, mode, "::ffff:192.0.2.10")
    assert "via ipv4" in recs["greeting"][0]["line"], res
    # without scio the program gives up at its own 1.5 s
    recs, res = epoll_client(world, mode, wait, slice_ms, shim=False)
    assert "timeout" in recs, res


@pytest.mark.parametrize("mode,wait,slice_ms", EPOLL_CASES)
def test_epoll_client_both_families_fine(world, mode, wait, slice_ms):
    """Over IPv6 as before, with as many epoll_wait returns as without."""
    a, ra = epoll_client(world, mode, wait, slice_ms, shim=False)
    b, rb = epoll_client(world, mode, wait, slice_ms)
    for recs, res in ((a, ra), (b, rb)):
        check_epoll_win(recs, res, mode, "2001:db8::10")
        assert "via ipv6" in recs["greeting"][0]["line"], res
    assert a["end"][0]["waits"] == b["end"][0]["waits"], (ra, rb)
    assert len(a["event"]) == len(b["event"]), (ra, rb)


@pytest.mark.parametrize("how", [["-2"], ["-T"]], ids=["two-sets", "other-thread"])
def test_epoll_set_shared_keeps_working(world, how):
    """The socket in a second epoll set too, or waited for from another
    thread than the one that connected: raced with every registration
    right, or left alone as without scio; never broken."""
    world.fault("ipv6", "blackhole")
    recs, res = epoll_client(world, "level", bind=how, SCIO_LOG="info")
    assert recs["end"][0]["fds_left"] == "0", res
    if "timeout" in recs:  # left alone
        assert "second" not in recs or recs["second"][0]["mod"] == "0", res
        return
    fast(res)
    check_epoll_win(recs, res, "level", "::ffff:192.0.2.10")
    if how == ["-2"]:
        assert recs["second"][0] == {"n": "1", "data_ok": "1", "mod": "0"}, res


def test_wildcard_bound_socket_is_raced(world):
    world.fault("ipv6", "blackhole")
    recs, res = epoll_client(world, "level", bind=["-b", "::"], SCIO_LOG="info")
    assert recs["bind"][0]["rc"] == "0", res
    fast(res)
    check_epoll_win(recs, res, "level", "::ffff:192.0.2.10")
    recs, res = epoll_client(world, "level", bind=["-b", "::"], shim=False)
    assert "timeout" in recs, res


@pytest.mark.parametrize("bind", [["-b", "2001:db8::2"], ["-b", "::", "-p", "40999"]],
                         ids=["address", "port"])
def test_socket_bound_to_address_or_port_passes_through(world, bind):
    world.fault("ipv6", "blackhole")
    recs, res = epoll_client(world, "level", bind=bind, SCIO_LOG="info")
    assert recs["bind"][0]["rc"] == "0", res
    assert "timeout" in recs, res
    assert "scio[" not in res.stderr, res


# ---- fidelity: several fds ----

@pytest.mark.parametrize("wait", ["poll", "ppoll", "select", "pselect", "epoll"])
def test_other_fd_on_time_while_race_pending(world, wait):
    """A pipe written at +100 ms is reported at about +100 ms with exactly
    its own event, not after the race; the race goes on in the next wait
    and wins there."""
    world.fault("ipv6", "blackhole")
    # a 500 ms delay: room for a loaded machine between the pipe and the win
    res = run(world, [prog("multi_wait"), wait, "dual.test", PORT], SCIO_CONNECT_DELAY_MS=500)
    assert res.returncode == 0, res
    recs = records(res)
    first, second = recs["wait"][0], recs["wait"][1]
    assert (first["rc"], first["sock"], first["pipe"]) == ("1", "0x0", "0x1"), res
    assert 90 <= int(first["ms"]) <= 350, res
    assert (second["rc"], second["sock"], second["pipe"]) == ("1", "0x4", "0x0"), res
    assert 480 <= int(second["ms"]) < 1000 * SLACK, res
    assert recs["done"][0] == {"so_error": "0", "peer": "::ffff:192.0.2.10",
                               "fds_left": "0"}, res


@pytest.mark.parametrize("wait", ["poll", "ppoll", "epoll"])
def test_fds_above_fd_setsize(world, wait):
    """The socket and the pipe numbered above FD_SETSIZE: the same."""
    world.fault("ipv6", "blackhole")
    res = run(world, [prog("multi_wait"), "-H", wait, "dual.test", PORT])
    assert res.returncode == 0, res
    recs = records(res)
    assert [(w["sock"], w["pipe"]) for w in recs["wait"]] == [("0x0", "0x1"), ("0x4", "0x0")], res
    assert recs["done"][0] == {"so_error": "0", "peer": "::ffff:192.0.2.10",
                               "fds_left": "0"}, res


# ---- fidelity: a race dropped ----

def popen_scio(lab, argv, **env):
    """run_scio's rules for a program the test talks to while it runs."""
    full = {**os.environ, **san_env(), **{k: str(v) for k, v in env.items()}}
    if TSAN:
        full["LD_PRELOAD"] += ":" + str(BUILD / "libscio-preload.so")
    else:
        argv = [SCIO_RUN, *argv]
    return lab.popen(argv, env=full, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True)


def server_connections(lab):
    out = lab.run_server(["ss", "-Htn", "state", "established", f"( sport = :{PORT} )"])
    return len(out.stdout.splitlines())


@pytest.mark.parametrize("wait,mode", [("poll", "close"), ("epoll", "close"), ("epoll", "del"),
                                       ("poll", "fork"), ("epoll", "fork")])
def test_race_dropped(world, wait, mode):
    """IPv6 blackholed, IPv4 answering the SYN's retransmission only (1 s):
    after 100 ms of waiting an IPv4 attempt is in flight.  The program then
    drops the socket; 1.5 s later nothing of the race is left in the
    process (or its child), and the server holds no connection the program
    did not make.  After a fork the parent's race goes on."""
    world.fault("ipv6", "blackhole")
    world.fault("ipv4", "lossy")
    p = popen_scio(world, [prog("drop_client"), "-w", wait, mode, "dual.test", PORT],
                   SCIO_CONNECT_DELAY_MS=20, SCIO_LOG="info")
    lines = []
    deadline = time.monotonic() + 10 * SLACK
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line or line.strip() == "hold":
            break
        lines.append(line)
    held = server_connections(world)
    out, err = p.communicate("", timeout=10)
    text = "".join(lines) + out
    info = f"stdout:\n{text}\nstderr:\n{err}"
    assert p.returncode == 0, info
    recs = {k: f for k, f in parse_records(text)}
    assert recs["wait"]["rc"] == "0", info  # nothing connected in 100 ms
    assert recs["end"]["fds_left"] == recs["end"]["expect"], info
    for kind, fields in parse_records(text):
        if kind == "child":
            assert fields["fds_left"] == fields["expect"], info
    if mode == "fork":
        # the parent's race goes on and wins at the retransmission; the
        # child closed its copies of the attempts
        parent = recs["parent"]
        assert (parent["so_error"], parent["peer"]) == ("0", "::ffff:192.0.2.10"), info
        assert held == 1, info
    else:
        assert held == 0, info
    for mark in ("ERROR: AddressSanitizer", "WARNING: ThreadSanitizer", "runtime error:"):
        assert mark not in err, info


# ---- valgrind ----

@pytest.mark.skipif(bool(SAN), reason="valgrind runs the plain build")
def test_c_clients_under_valgrind(world):
    from test_valgrind import memcheck
    world.fault("ipv6", "blackhole")
    # history off: a win over IPv4 would put IPv4 first in the next answer
    env = {"SCIO_HISTORY": "off"}
    res = memcheck(world, [prog("epoll_client"), "-s", "100", "edge", "dual.test", PORT], env)
    recs = records(res)
    check_epoll_win(recs, res, "edge", "::ffff:192.0.2.10")
    res = memcheck(world, [prog("multi_wait"), "epoll", "dual.test", PORT], env)
    assert "done so_error=0 peer=::ffff:192.0.2.10 fds_left=0" in res.stdout, res
    world.fault("ipv4", "lossy")  # an IPv4 attempt still in flight at the close
    res = memcheck(world, [prog("drop_client"), "-w", "epoll", "close", "dual.test", PORT],
                   {**env, "SCIO_CONNECT_DELAY_MS": "20"})
    assert "wait rc=0" in res.stdout and "end fds_left=1 expect=1" in res.stdout, res


# ---- history ----

GAI_ORDER = ("import socket; print([a[4][0] for a in "
             "socket.getaddrinfo('dual.test', 7000, type=socket.SOCK_STREAM)])")


@pytest.mark.parametrize("client", [["epoll_client", "-s", "100", "edge"], ["multi_wait", "ppoll"]],
                         ids=["epoll", "ppoll"])
def test_history_hears_of_races_won_in_the_programs_wait(world, client):
    """A race decided inside the program's own wait teaches history that
    IPv6 failed: the next lookup under scio puts IPv4 first."""
    world.fault("ipv6", "blackhole")
    res = run(world, [prog(client[0]), *client[1:], "dual.test", PORT])
    assert "peer=::ffff:192.0.2.10" in res.stdout, res
    res = run(world, [PY, "-c", GAI_ORDER])
    assert res.stdout.strip() == "['192.0.2.10', '2001:db8::10']", res


# ---- fidelity: odd things done to a socket while its race lives ----

def live_edge(lab, mode, timeout=10, **env):
    lab.fault("ipv6", "blackhole")
    lab.fault("ipv4", "lossy")  # an IPv4 attempt still in flight after 100 ms
    return run(lab, [prog("live_edge"), mode, "dual.test", PORT], timeout=timeout,
               SCIO_CONNECT_DELAY_MS=20, SCIO_LOG="info", **{"SCIO_HISTORY": "off", **env})


def test_cancel_in_close_leaves_no_lock_held(world):
    """pthread_cancel acting in close() while the race on that socket is
    dropped (its attempt sockets closed, a cancellation point each): the
    thread ends, and the process's next connect and close do not hang on
    a lock the cancelled thread took with it."""
    res = live_edge(world, "cancel")
    assert not res.timed_out and res.returncode == 0, res
    assert "joined cancelled=1" in res.stdout and "second close done" in res.stdout, res


@pytest.mark.skipif(TSAN, reason=(
    "another thread closes the fd this thread polls: scio's table lock is "
    "taken inside TSan's poll interceptor, where TSan does not see it held, "
    "so it reports the table's accesses as a race"))
def test_fd_reused_during_the_wait_is_no_win(world):
    """Another thread closes the socket while this thread's poll holds its
    race, and opens a UDP socket that gets the same number (writable at
    once): that is not the program's IPv6 connect winning.  Neither the
    log nor history hears of a win, and nothing is put in the fd's place."""
    res = live_edge(world, "reuse")
    assert not res.timed_out and res.returncode == 0, res
    assert "reuse rc=1 same_number=1" in res.stdout, res
    assert "after type=dgram" in res.stdout, res
    assert "connected to" not in res.stderr, res
    assert "closed by another thread" in res.stderr, res



def test_vfork_childs_close_leaves_the_parents_race(world):
    """A vfork child (sharing the parent's memory) closes its copy of the
    socket: the parent's race goes on and wins at IPv4's retransmission."""
    res = live_edge(world, "vfork")
    assert not res.timed_out and res.returncode == 0, res
    parent = records(res)["parent"][0]
    assert (parent["rc"], parent["so_error"]) == ("1", "0"), res
    assert int(parent["ms"]) < 1900, res


def test_epoll_set_closed_while_socket_kept_out(world):
    """The program closes the epoll set while the socket is out of it for
    its race, makes a new set (same number) and adds the socket: the add
    succeeds, and the win shows with the new set's data."""
    res = live_edge(world, "epclose")
    assert not res.timed_out and res.returncode == 0, res
    assert "same_number=1" in res.stdout, res
    assert "add rc=0" in res.stdout, res
    second = records(res)["second"][0]
    assert (second["rc"], second["data"]) == ("1", "2"), res


def test_dup2_over_a_socket_kept_out_of_its_set(world):
    """dup2 of a UDP socket over the socket while it is out of its epoll
    set (a close the shim does not see): the program's ADD of the new file
    goes to the kernel and succeeds, and its event shows."""
    res = live_edge(world, "dup2")
    assert not res.timed_out and res.returncode == 0, res
    assert "add rc=0" in res.stdout, res
    second = records(res)["second"][0]
    assert (second["rc"], second["data"]) == ("1", "3"), res


def test_poll_does_not_race_a_socket_in_an_epoll_set(world):
    """A socket registered in an epoll set and polled: no race in the poll
    (the winner's dup3 would take it out of the set without a word); the
    registration stays (MOD succeeds) and the set's wait races and wins."""
    res = live_edge(world, "pollep")
    assert not res.timed_out and res.returncode == 0, res
    assert "mod rc=0" in res.stdout, res
    second = records(res)["second"][0]
    assert (second["rc"], second["data"]) == ("1", "5"), res


def test_bad_poll_arguments_get_the_kernels_errors(world):
    """While a race is pending: poll on an address the kernel refuses is
    EFAULT (not SIGSEGV in scio), a negative ppoll timeout EINVAL."""
    res = live_edge(world, "efault")
    assert not res.timed_out and res.returncode == 0, res
    assert "badptr rc=-1 errno=EFAULT" in res.stdout, res
    assert "negative rc=-1 errno=EINVAL" in res.stdout, res
