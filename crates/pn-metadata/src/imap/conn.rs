//! One IMAP connection: TCP, TLS or STARTTLS, capabilities, login, tagged commands.

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;

use base64::Engine as _;

use super::proto::{self, Code, Part, Response, Status, Untagged};
use super::{AuthMech, ImapError, ImapSettings, Login, SslMode};

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// What a tagged command answered.
pub(crate) struct Done {
    pub(crate) untagged: Vec<Untagged>,
    pub(crate) status: Status,
    pub(crate) code: Option<Code>,
    pub(crate) text: String,
}

/// A logged-in IMAP session.
pub(crate) struct Session {
    reader: BufReader<Stream>,
    caps: Vec<String>,
    next_tag: u32,
    tls: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("caps", &self.caps)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

fn io_err(what: &str) -> impl FnOnce(io::Error) -> ImapError + '_ {
    move |source| ImapError::Io {
        what: what.to_owned(),
        source,
    }
}

impl Session {
    /// Connects, secures the connection as configured and logs in.
    pub(crate) fn open(settings: &ImapSettings, login: &Login) -> Result<Session, ImapError> {
        let port = settings.port();
        let addrs: Vec<_> = (settings.host.as_str(), port)
            .to_socket_addrs()
            .map_err(io_err(&format!("resolve {}", settings.host)))?
            .collect();
        let mut last = None;
        let mut tcp = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, settings.timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let what = format!("connect({}:{port})", settings.host);
        let tcp = match (tcp, last) {
            (Some(t), _) => t,
            (None, Some(e)) => return Err(io_err(&what)(e)),
            (None, None) => {
                return Err(io_err(&what)(io::Error::new(
                    io::ErrorKind::NotFound,
                    "host has no address",
                )));
            }
        };
        let loopback = tcp.peer_addr().is_ok_and(|a| a.ip().is_loopback());
        tcp.set_read_timeout(Some(settings.timeout))
            .and_then(|()| tcp.set_write_timeout(Some(settings.timeout)))
            .and_then(|()| tcp.set_nodelay(true))
            .map_err(io_err("setsockopt"))?;

        let (stream, tls) = if settings.ssl == SslMode::Yes {
            (Stream::Tls(Box::new(tls_connect(settings, tcp)?)), true)
        } else {
            (Stream::Plain(tcp), false)
        };
        let mut session = Session {
            reader: BufReader::new(stream),
            caps: Vec::new(),
            next_tag: 1,
            tls,
        };
        let preauth = session.greeting()?;

        if settings.ssl == SslMode::Starttls {
            session.ensure_caps()?;
            if !session.has_cap("STARTTLS") {
                return Err(ImapError::MissingCapability {
                    capability: "STARTTLS".to_owned(),
                    why: "pn_metadata_imap_ssl = starttls",
                });
            }
            session.expect_ok(&[Part::Text(b"STARTTLS".to_vec())], "STARTTLS")?;
            if !session.reader.buffer().is_empty() {
                return Err(ImapError::Protocol(
                    "the server sent data after its STARTTLS answer (possible injection)"
                        .to_owned(),
                ));
            }
            let Stream::Plain(tcp) = session.reader.into_inner() else {
                return Err(ImapError::Protocol(
                    "STARTTLS on a TLS connection".to_owned(),
                ));
            };
            session = Session {
                reader: BufReader::new(Stream::Tls(Box::new(tls_connect(settings, tcp)?))),
                caps: Vec::new(),
                next_tag: session.next_tag,
                tls: true,
            };
        }

        if !session.tls && !loopback && !settings.allow_plaintext {
            return Err(ImapError::Insecure {
                host: settings.host.clone(),
            });
        }
        if !preauth {
            session.ensure_caps()?;
            session.login(settings, login)?;
        }
        // Capabilities usually grow after login (METADATA is one of them).
        if session.caps.is_empty() {
            session.ensure_caps()?;
        }
        Ok(session)
    }

    /// Whether the server advertised `cap` (upper case).
    pub(crate) fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    fn greeting(&mut self) -> Result<bool, ImapError> {
        match self.read()? {
            Response::Untagged(Untagged::Status { status, code, text }) => {
                if let Some(Code::Capability(c)) = code {
                    self.caps = c;
                }
                match status {
                    Status::Ok => Ok(false),
                    Status::Preauth => Ok(true),
                    _ => Err(ImapError::Bye(text)),
                }
            }
            _ => Err(ImapError::Protocol("unexpected greeting".to_owned())),
        }
    }

    fn ensure_caps(&mut self) -> Result<(), ImapError> {
        if self.caps.is_empty() {
            let done = self.expect_ok(&[Part::Text(b"CAPABILITY".to_vec())], "CAPABILITY")?;
            for u in done.untagged {
                if let Untagged::Capability(c) = u {
                    self.caps = c;
                }
            }
            if self.caps.is_empty() {
                return Err(ImapError::Protocol(
                    "the server sent no CAPABILITY".to_owned(),
                ));
            }
        }
        Ok(())
    }

    fn login(&mut self, settings: &ImapSettings, login: &Login) -> Result<(), ImapError> {
        let plain_ok = self.has_cap("AUTH=PLAIN");
        let mech = match settings.auth_mech {
            AuthMech::Auto if plain_ok => AuthMech::Plain,
            AuthMech::Auto if login.authzid.is_some() => {
                return Err(ImapError::MissingCapability {
                    capability: "AUTH=PLAIN".to_owned(),
                    why: "a master user login with an authorization id",
                });
            }
            AuthMech::Auto => AuthMech::Login,
            m => m,
        };
        if mech == AuthMech::Login && login.authzid.is_some() {
            return Err(ImapError::Config(
                "pn_metadata_imap_auth_mech = login cannot log in as a master user with an \
                 authorization id; set pn_metadata_imap_master_separator or use plain"
                    .to_owned(),
            ));
        }
        let done = match mech {
            AuthMech::Plain => self.authenticate_plain(login)?,
            _ => {
                if self.has_cap("LOGINDISABLED") {
                    return Err(ImapError::LoginDisabled);
                }
                let mut parts = vec![Part::Text(b"LOGIN ".to_vec())];
                proto::push_astring(&mut parts, login.authcid.as_bytes())
                    .map_err(|_| ImapError::Config("NUL in user name".to_owned()))?;
                proto::push_text(&mut parts, b" ");
                proto::push_astring(&mut parts, login.password.as_bytes())
                    .map_err(|_| ImapError::Config("NUL in password".to_owned()))?;
                self.command(&parts)?
            }
        };
        if done.status != Status::Ok {
            return Err(ImapError::AuthFailed {
                user: login.display_name(),
                text: done.text,
            });
        }
        self.caps.clear();
        if let Some(Code::Capability(c)) = done.code {
            self.caps = c;
        }
        for u in done.untagged {
            if let Untagged::Capability(c) = u {
                self.caps = c;
            }
        }
        Ok(())
    }

    fn authenticate_plain(&mut self, login: &Login) -> Result<Done, ImapError> {
        let mut msg = Vec::new();
        msg.extend_from_slice(login.authzid.as_deref().unwrap_or_default().as_bytes());
        msg.push(0);
        msg.extend_from_slice(login.authcid.as_bytes());
        msg.push(0);
        msg.extend_from_slice(login.password.as_bytes());
        let b64 = base64(&msg);
        let tag = self.tag();
        if self.has_cap("SASL-IR") {
            let line = format!(
                "{tag} AUTHENTICATE PLAIN {}\r\n",
                if b64.is_empty() { "=" } else { &b64 }
            );
            self.write(line.as_bytes())?;
        } else {
            self.write(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes())?;
            let mut untagged = Vec::new();
            if let Some(done) = self.wait_continuation(&tag, &mut untagged)? {
                return Ok(done);
            }
            self.write(format!("{b64}\r\n").as_bytes())?;
        }
        self.finish(&tag, Vec::new())
    }

    fn tag(&mut self) -> String {
        let tag = format!("pn{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ImapError> {
        let s = self.reader.get_mut();
        s.write_all(bytes)
            .and_then(|()| s.flush())
            .map_err(io_err("write"))
    }

    fn read(&mut self) -> Result<Response, ImapError> {
        let Some(bytes) = proto::read_response(&mut self.reader).map_err(io_err("read"))? else {
            return Err(ImapError::Io {
                what: "read".to_owned(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ),
            });
        };
        proto::parse_response(&bytes).ok_or_else(|| {
            let shown: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
            ImapError::Protocol(format!("unparsable response: {}", shown.trim_end()))
        })
    }

    /// Reads until a continuation request (`Ok(None)`) or the command's tagged answer.
    fn wait_continuation(
        &mut self,
        tag: &str,
        untagged: &mut Vec<Untagged>,
    ) -> Result<Option<Done>, ImapError> {
        loop {
            match self.read()? {
                Response::Continuation(_) => return Ok(None),
                Response::Untagged(Untagged::Status {
                    status: Status::Bye,
                    text,
                    ..
                }) => return Err(ImapError::Bye(text)),
                Response::Untagged(u) => untagged.push(u),
                Response::Tagged {
                    tag: t,
                    status,
                    code,
                    text,
                } if t == tag => {
                    return Ok(Some(Done {
                        untagged: std::mem::take(untagged),
                        status,
                        code,
                        text,
                    }));
                }
                Response::Tagged { .. } => {}
            }
        }
    }

    fn finish(&mut self, tag: &str, mut untagged: Vec<Untagged>) -> Result<Done, ImapError> {
        self.wait_continuation(tag, &mut untagged)?
            .ok_or_else(|| ImapError::Protocol("unexpected continuation request".to_owned()))
    }

    /// Sends a command (without tag and CRLF) and reads until its tagged answer.
    pub(crate) fn command(&mut self, parts: &[Part]) -> Result<Done, ImapError> {
        let tag = self.tag();
        let literal_plus = self.has_cap("LITERAL+");
        let literal_minus = self.has_cap("LITERAL-");
        let mut buf = format!("{tag} ").into_bytes();
        let mut untagged = Vec::new();
        for part in parts {
            match part {
                Part::Text(t) => buf.extend_from_slice(t),
                Part::Literal { data, binary } => {
                    if *binary {
                        buf.push(b'~');
                    }
                    let sync = !(literal_plus || (literal_minus && data.len() <= 4096));
                    let plus = if sync { "" } else { "+" };
                    buf.extend_from_slice(format!("{{{}{plus}}}\r\n", data.len()).as_bytes());
                    if sync {
                        self.write(&buf)?;
                        buf.clear();
                        if let Some(done) = self.wait_continuation(&tag, &mut untagged)? {
                            return Ok(done);
                        }
                    }
                    buf.extend_from_slice(data);
                }
            }
        }
        buf.extend_from_slice(b"\r\n");
        self.write(&buf)?;
        self.finish(&tag, untagged)
    }

    /// [`Session::command`], failing unless the answer is OK.
    fn expect_ok(&mut self, parts: &[Part], name: &str) -> Result<Done, ImapError> {
        let done = self.command(parts)?;
        if done.status == Status::Ok {
            Ok(done)
        } else {
            Err(ImapError::Refused {
                command: name.to_owned(),
                status: done.status,
                code: done.code,
                text: done.text,
            })
        }
    }

    /// Says LOGOUT, ignoring any failure.
    pub(crate) fn logout(mut self) {
        let _ = self.command(&[Part::Text(b"LOGOUT".to_vec())]);
    }
}

fn tls_connect(
    settings: &ImapSettings,
    tcp: TcpStream,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, ImapError> {
    let config = tls_config(settings)?;
    let name = rustls::pki_types::ServerName::try_from(settings.host.clone())
        .map_err(|e| ImapError::Tls(format!("invalid server name {}: {e}", settings.host)))?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| ImapError::Tls(e.to_string()))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    // Handshake now, so certificate errors are reported as such.
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).map_err(|e| {
            match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                Some(tls) => ImapError::Tls(tls.to_string()),
                None => ImapError::Io {
                    what: "TLS handshake".to_owned(),
                    source: e,
                },
            }
        })?;
    }
    Ok(stream)
}

fn tls_config(settings: &ImapSettings) -> Result<rustls::ClientConfig, ImapError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &settings.ssl_ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| ImapError::Tls(format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(ImapError::Tls(format!(
                "{}: no certificates",
                path.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ImapError::Tls(format!("{}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Standard base64 with padding (RFC 4648), for AUTHENTICATE PLAIN.
fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(b"\0alice\0pass"), "AGFsaWNlAHBhc3M=");
    }
}
