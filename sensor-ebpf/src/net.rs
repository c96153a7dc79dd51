//! Outbound connections and request heads. Only socket traffic passes these hooks:
//! `connect`, `sendto`/`sendmsg` results (socket-only syscalls, exit hooks) and the TLS
//! libraries' write functions. Plain `write(2)` is not hooked, so file and pipe writes
//! never run a program.

use aya_ebpf::{
    helpers::{bpf_get_current_task, bpf_probe_read_user, bpf_probe_read_user_buf},
    macros::{tracepoint, uprobe},
    programs::{ProbeContext, TracePointContext},
};
use sensor_common::{
    ConnectEvent, DATA_CAP, DATA_FIXED_LEN, DataEvent, EVENT_CONNECT, EVENT_DATA, SOCKADDR_CAP,
    SRC_CLIENT_CERT, SRC_DNS, SRC_GNUTLS, SRC_OPENSSL, SRC_SENDMSG, SRC_SENDTO, STAT_CONNECT_EMITTED,
    STAT_DATA_EMITTED, STAT_DATA_NOT_REQUEST, STAT_DROP_CONNECT, STAT_DROP_DATA, STAT_READ_ERROR,
};

use crate::{
    kread::{read, read_ptr},
    maps::{EVENTS, SCRATCH_DATA, count, off, output_prefix, wakeup_flags},
    task::{fill_header, is_self, sys_exit_ret, syscall_arg},
};

const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

#[inline(always)]
fn current_task() -> *const u8 {
    // SAFETY: plain helper call.
    unsafe { bpf_get_current_task() as *const u8 }
}

/// True when the first bytes look like a client request: an HTTP/1.x method, the
/// HTTP/2 preface, or an HTTP/2 HEADERS frame of plausible size.
#[inline(always)]
fn looks_like_request(h: &[u8; 8]) -> bool {
    let w = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    const fn m(s: &[u8; 4]) -> u32 {
        u32::from_le_bytes(*s)
    }
    matches!(
        w,
        x if x == m(b"GET ") || x == m(b"POST") || x == m(b"PUT ") || x == m(b"PATC") || x == m(b"DELE")
            || x == m(b"HEAD") || x == m(b"OPTI") || x == m(b"CONN") || x == m(b"TRAC") || x == m(b"PRI ")
    ) || (h[3] == 0x01 && h[0] == 0 && h[1] < 0x40)
}

/// This CPU's data record, with its header and identity filled (`captured` = 0).
#[inline(always)]
fn start_data(
    source: u32,
    fd: i32,
    conn: u64,
    len: u64,
) -> Result<(*mut DataEvent, &'static mut DataEvent), i64> {
    let Some(ev) = SCRATCH_DATA.get_ptr_mut(0) else { return Err(-2) };
    // SAFETY: this CPU's scratch record; only the running program uses it.
    let e = unsafe { &mut *ev };
    fill_header(&raw mut e.header, EVENT_DATA, size_of::<DataEvent>(), current_task())?;
    e.source = source;
    e.fd = fd;
    e.conn = conn;
    e.len = len.min(u64::from(u32::MAX)) as u32;
    e.captured = 0;
    Ok((ev, e))
}

/// Sends the assembled data record (only the bytes captured); counts it as emitted or
/// dropped.
#[inline(always)]
fn emit_data(ev: *mut DataEvent) -> Result<(), i64> {
    // SAFETY: this CPU's scratch record, fully assembled.
    let e = unsafe { &mut *ev };
    let len = DATA_FIXED_LEN + (e.captured as usize).min(DATA_CAP);
    e.header.size = len as u32;
    if output_prefix(ev as *const u8, len, size_of::<DataEvent>(), wakeup_flags()).is_err() {
        count(STAT_DROP_DATA);
    } else {
        count(STAT_DATA_EMITTED);
    }
    Ok(())
}

/// Copies the head of `buf` (`len` bytes written) if it looks like a request.
#[inline(always)]
fn capture(source: u32, fd: i32, conn: u64, buf: *const u8, len: u64) -> Result<(), i64> {
    if off!(valid) == 0 || is_self() || buf.is_null() || len < 8 {
        return Ok(());
    }
    // SAFETY: the helper validates the user address.
    let head: [u8; 8] = unsafe { bpf_probe_read_user(buf.cast::<[u8; 8]>()) }.map_err(i64::from)?;
    if !looks_like_request(&head) {
        count(STAT_DATA_NOT_REQUEST);
        return Ok(());
    }
    let (ev, e) = start_data(source, fd, conn, len)?;
    let n = len as usize;
    if n >= DATA_CAP {
        // SAFETY: as above; the whole buffer.
        unsafe { bpf_probe_read_user_buf(buf, &mut e.data) }.map_err(i64::from)?;
        e.captured = DATA_CAP as u32;
    } else {
        let n = n & (DATA_CAP - 1);
        if let Some(dst) = e.data.get_mut(..n) {
            // SAFETY: as above, with a length the verifier can bound.
            unsafe { bpf_probe_read_user_buf(buf, dst) }.map_err(i64::from)?;
            e.captured = n as u32;
        }
    }
    emit_data(ev)
}

#[inline(always)]
fn done(r: Result<(), i64>) -> u32 {
    if r.is_err() {
        count(STAT_READ_ERROR);
    }
    0
}

/// OpenSSL `SSL_write(ssl, buf, num)`: request plaintext before encryption.
#[uprobe]
pub fn ssl_write(ctx: ProbeContext) -> u32 {
    done(try_tls(&ctx, SRC_OPENSSL, true))
}

/// OpenSSL `SSL_write_ex(ssl, buf, num, written)`.
#[uprobe]
pub fn ssl_write_ex(ctx: ProbeContext) -> u32 {
    done(try_tls(&ctx, SRC_OPENSSL, false))
}

/// GnuTLS `gnutls_record_send(session, data, size)` (wget, apt, …).
#[uprobe]
pub fn gnutls_record_send(ctx: ProbeContext) -> u32 {
    done(try_tls(&ctx, SRC_GNUTLS, false))
}

/// `(conn, buf, len)` from the first three arguments. The probe may sit on the
/// function's first branch rather than its entry (`probes::uprobe_site`): the argument
/// registers are unchanged there, but an `int` length (`SSL_write`) may not have been
/// widened yet, so only its low 32 bits count.
#[inline(always)]
fn try_tls(ctx: &ProbeContext, source: u32, int_len: bool) -> Result<(), i64> {
    let conn: u64 = ctx.arg(0).ok_or(-22i64)?;
    let buf: *const u8 = ctx.arg(1).ok_or(-22i64)?;
    let raw: u64 = ctx.arg(2).ok_or(-22i64)?;
    let len = if int_len { raw & 0xffff_ffff } else { raw };
    if int_len && (len == 0 || len > 0x7fff_ffff) {
        return Ok(());
    }
    capture(source, -1, conn, buf, len)
}

/// OpenSSL `SSL_CTX_use_certificate` / `SSL_use_certificate` and GnuTLS
/// `gnutls_certificate_set_x509_key*`: the process presents a client certificate, so
/// its TLS requests are sender-constrained (mTLS).
#[uprobe]
pub fn tls_client_cert(_ctx: ProbeContext) -> u32 {
    done(try_client_cert())
}

fn try_client_cert() -> Result<(), i64> {
    if off!(valid) == 0 || is_self() {
        return Ok(());
    }
    let (ev, _) = start_data(SRC_CLIENT_CERT, -1, 0, 0)?;
    emit_data(ev)
}

/// `sendto(2)` results: plaintext requests on sockets (curl and python send with it);
/// the buffer is still in the caller's memory, and the result says how much was sent.
#[tracepoint]
pub fn sys_exit_sendto(ctx: TracePointContext) -> u32 {
    done(try_sendto(&ctx))
}

/// Bytes the syscall reports sent, or None on failure.
#[inline(always)]
fn sent(ctx: &TracePointContext) -> Result<Option<u64>, i64> {
    let ret = sys_exit_ret(ctx)?;
    Ok((ret > 0).then_some(ret as u64))
}

fn try_sendto(ctx: &TracePointContext) -> Result<(), i64> {
    let Some(len) = sent(ctx)? else { return Ok(()) };
    let (fd, buf, addr) = (syscall_arg::<0>(), syscall_arg::<1>(), syscall_arg::<4>());
    if is_dns_destination(addr) {
        return capture_dns(fd as i32, buf as *const u8, len);
    }
    capture(SRC_SENDTO, fd as i32, fd, buf as *const u8, len)
}

/// `sendmsg(2)` results: the first iovec of the message.
#[tracepoint]
pub fn sys_exit_sendmsg(ctx: TracePointContext) -> u32 {
    done(try_sendmsg(&ctx))
}

fn try_sendmsg(ctx: &TracePointContext) -> Result<(), i64> {
    let Some(sent) = sent(ctx)? else { return Ok(()) };
    let (fd, msg) = (syscall_arg::<0>(), syscall_arg::<1>());
    if msg == 0 {
        return Ok(());
    }
    // struct user_msghdr: msg_iov at 16, msg_iovlen at 24; struct iovec { base, len }.
    // SAFETY: user addresses checked by the helper.
    let iov: u64 = unsafe { bpf_probe_read_user((msg + 16) as *const u64) }.map_err(i64::from)?;
    if iov == 0 {
        return Ok(());
    }
    // SAFETY: as above.
    let (base, len): (u64, u64) = unsafe {
        (
            bpf_probe_read_user(iov as *const u64).map_err(i64::from)?,
            bpf_probe_read_user((iov + 8) as *const u64).map_err(i64::from)?,
        )
    };
    let len = len.min(sent);
    // SAFETY: msg_name is the first field of user_msghdr.
    let name: u64 = unsafe { bpf_probe_read_user(msg as *const u64) }.map_err(i64::from)?;
    if is_dns_destination(name) {
        return capture_dns(fd as i32, base as *const u8, len);
    }
    capture(SRC_SENDMSG, fd as i32, fd, base as *const u8, len)
}

/// Fills the local address and port of the socket behind `fd` in the current task.
#[inline(always)]
fn local_tuple(e: &mut ConnectEvent, fd: i32) -> Result<(), i64> {
    if fd < 0 {
        return Ok(());
    }
    let task = current_task();
    let files = read_ptr(task, off!(task_files))?;
    let fdt = read_ptr(files, off!(files_fdt))?;
    let fd_array = read_ptr(fdt, off!(fdt_fd))?;
    let file = read_ptr(fd_array, (fd as usize) * 8)?;
    let socket = read_ptr(file, off!(file_private_data))?;
    let sk = read_ptr(socket, off!(socket_sk))?;
    let family = u32::from(read::<u16>(sk, off!(skc_family))?);
    e.local_family = family;
    e.local_port = u32::from(read::<u16>(sk, off!(skc_num))?);
    if family == u32::from(AF_INET6) {
        e.local_addr = read::<[u8; 16]>(sk, off!(skc_v6_rcv_saddr))?;
    } else {
        let v4 = read::<[u8; 4]>(sk, off!(skc_rcv_saddr))?;
        e.local_addr[..4].copy_from_slice(&v4);
    }
    Ok(())
}

/// True when a user `sockaddr` is an IPv4/IPv6 destination on port 53.
#[inline(always)]
fn is_dns_destination(addr: u64) -> bool {
    if addr == 0 {
        return false;
    }
    // SAFETY: user address checked by the helper.
    let head: Result<[u8; 4], i64> =
        unsafe { bpf_probe_read_user(addr as *const [u8; 4]) }.map_err(i64::from);
    match head {
        Ok(h) => {
            let family = u16::from_le_bytes([h[0], h[1]]);
            (family == AF_INET || family == AF_INET6) && h[2] == 0 && h[3] == 53
        }
        Err(_) => false,
    }
}

/// Copies a DNS query (the name asked names later destinations).
#[inline(always)]
fn capture_dns(fd: i32, buf: *const u8, len: u64) -> Result<(), i64> {
    if off!(valid) == 0 || is_self() || buf.is_null() || len < 12 {
        return Ok(());
    }
    let (ev, e) = start_data(SRC_DNS, fd, fd as u64, len)?;
    // A query fits in 512 bytes; copy at most that much.
    let n = (len as usize).min(512) & 1023;
    if let Some(dst) = e.data.get_mut(..n) {
        // SAFETY: bounded copy from a checked user address.
        unsafe { bpf_probe_read_user_buf(buf, dst) }.map_err(i64::from)?;
        e.captured = n as u32;
    }
    emit_data(ev)
}

/// `connect(2)` results: the destination (still in the caller's memory) with the
/// outcome and the socket's local end.
#[tracepoint]
pub fn sys_exit_connect(ctx: TracePointContext) -> u32 {
    done(try_exit_connect(&ctx))
}

fn try_exit_connect(ctx: &TracePointContext) -> Result<(), i64> {
    if off!(valid) == 0 || is_self() {
        return Ok(());
    }
    let (fd, addr, addrlen) = (syscall_arg::<0>() as i32, syscall_arg::<1>(), syscall_arg::<2>());
    if addr == 0 {
        return Ok(());
    }
    // SAFETY: user address checked by the helper.
    let family: u16 = unsafe { bpf_probe_read_user(addr as *const u16) }.map_err(i64::from)?;
    if family != AF_INET && family != AF_INET6 && family != AF_UNIX {
        return Ok(());
    }
    let ret = sys_exit_ret(ctx)?;
    let Some(mut entry) = EVENTS.reserve::<ConnectEvent>(0) else {
        count(STAT_DROP_CONNECT);
        return Ok(());
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: a live reservation of size_of::<ConnectEvent>().
    let e = unsafe { &mut *ev };
    if let Err(err) = fill_header(&raw mut e.header, EVENT_CONNECT, size_of::<ConnectEvent>(), current_task())
    {
        entry.discard(0);
        return Err(err);
    }
    e.fd = fd;
    e.ret = ret as i32;
    e.addr_len = (addrlen as u32).min(SOCKADDR_CAP as u32);
    e._pad0 = 0;
    // SAFETY: fixed-size copy from a checked user address (short addresses read a few
    // bytes past their end, which the kernel tolerates or reports as an error).
    if unsafe { bpf_probe_read_user_buf(addr as *const u8, &mut e.sockaddr) }.is_err() {
        entry.discard(0);
        return Err(-14);
    }
    e.local_port = 0;
    e.local_family = 0;
    e.local_addr = [0; 16];
    // The local end, read from the socket behind the fd (best effort).
    let _ = local_tuple(e, fd);
    entry.submit(wakeup_flags());
    count(STAT_CONNECT_EMITTED);
    Ok(())
}
