//! systemd's readiness protocol (`sd_notify`): a datagram to `$NOTIFY_SOCKET` (a path, or
//! `@name` for an abstract socket). Without the variable (not started by systemd) nothing is
//! sent; a failure to send is logged, never fatal.

use std::os::unix::net::UnixDatagram;

/// `READY=1`: the listeners are bound, the service can take connections.
pub(crate) fn ready() {
    send("READY=1");
}

/// Sends `state` (`KEY=VALUE` lines) to the service manager.
pub(crate) fn send(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty()) else {
        return;
    };
    if let Err(e) = send_to(&target, state) {
        tracing::warn!(
            "sd_notify({state}) to {} failed: {e}",
            target.to_string_lossy()
        );
    }
}

fn send_to(target: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), target)?;
    }
    Ok(())
}
