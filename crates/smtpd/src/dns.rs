//! Name service look-ups through the system resolver (getnameinfo and
//! getaddrinfo, so /etc/hosts and NSS count):
//!
//! * [`client_name`]: the client's verified name, as Postfix finds it — the
//!   reverse name of the address, kept only when a forward look-up of that
//!   name gives the address back; otherwise `unknown`.
//! * [`host_exists`]: whether a name has an address. The restrictions ask
//!   the `dns` crate for an MX record as well (Postfix's A, AAAA or MX
//!   check for `reject_unknown_*`).
use std::ffi::{CStr, CString};
use std::net::{IpAddr, SocketAddr};

/// A look-up's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Found,
    NotFound,
    /// The resolver failed in a way that may go away.
    TempFail,
}

/// The addresses of `name`, or why there are none.
fn addresses(name: &str) -> Result<Vec<IpAddr>, Lookup> {
    let Ok(c) = CString::new(name) else {
        return Err(Lookup::NotFound);
    };
    // SAFETY: an all-zero addrinfo is a valid "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `c` is NUL-terminated, hints and res point to valid memory.
    let rc = unsafe { libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 {
        return Err(match rc {
            libc::EAI_NONAME | libc::EAI_NODATA | libc::EAI_FAMILY => Lookup::NotFound,
            _ => Lookup::TempFail,
        });
    }
    let mut out = Vec::new();
    let mut p = res;
    while !p.is_null() {
        // SAFETY: p is a node of the list getaddrinfo returned.
        let ai = unsafe { &*p };
        if !ai.ai_addr.is_null() {
            // SAFETY: ai_addr points to ai_addrlen bytes of a sockaddr of ai_family.
            let addr = unsafe {
                match ai.ai_family {
                    libc::AF_INET => {
                        let sin = &*(ai.ai_addr as *const libc::sockaddr_in);
                        Some(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ))
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ai.ai_addr as *const libc::sockaddr_in6);
                        Some(IpAddr::from(sin6.sin6_addr.s6_addr))
                    }
                    _ => None,
                }
            };
            out.extend(addr);
        }
        p = ai.ai_next;
    }
    // SAFETY: res came from a successful getaddrinfo.
    unsafe { libc::freeaddrinfo(res) };
    Ok(out)
}

/// Whether `domain` has an address (A or AAAA) record.
pub fn host_exists(domain: &str) -> Lookup {
    match addresses(domain.trim_end_matches('.')) {
        Ok(a) if !a.is_empty() => Lookup::Found,
        Ok(_) => Lookup::NotFound,
        Err(e) => e,
    }
}

/// The reverse name of `ip`, when it has one.
/// The reverse name of `ip`: Err when the look-up failed for a reason
/// that may go away (EAI_AGAIN), Ok(None) when there is none.
fn reverse_name(ip: IpAddr) -> Result<Option<String>, ()> {
    let sa = SocketAddr::new(ip, 0);
    let (storage, len) = sockaddr_of(&sa);
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: storage holds a valid sockaddr of `len` bytes; host is a
    // writable buffer of the size given.
    let rc = unsafe {
        libc::getnameinfo(
            &storage as *const libc::sockaddr_storage as *const libc::sockaddr,
            len,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc == libc::EAI_AGAIN {
        return Err(());
    }
    if rc != 0 {
        return Ok(None);
    }
    // SAFETY: getnameinfo NUL-terminates the name on success.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    let Ok(name) = name.to_str() else {
        return Ok(None);
    };
    let name = name.trim_end_matches('.').to_string();
    Ok(addr::valid_hostname(&name).then_some(name))
}

fn sockaddr_of(sa: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match sa {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// How long a client's name is used again: an smtpd serves many sessions,
/// often from the same few clients, and each look-up pair through the
/// system resolver (/etc/hosts, NSS) costs some 60 µs of CPU. A
/// temporary failure is never kept.
const NAME_TTL: std::time::Duration = std::time::Duration::from_secs(10);

static RECENT_NAMES: std::sync::LazyLock<util::ttl_cache::TtlCache<ClientNames>> =
    std::sync::LazyLock::new(|| util::ttl_cache::TtlCache::new(NAME_TTL, 1000));

/// A client's names as Postfix finds them, each `unknown` when there is
/// none, with whether its look-up failed for a reason that may go away
/// (Postfix's temporary name status: the reject_unknown_* restrictions
/// then defer rather than reject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientNames {
    /// The reverse name when its forward look-up gives the address back.
    pub name: String,
    pub name_temporary: bool,
    /// The reverse name (PTR), confirmed or not.
    pub reverse: String,
    pub reverse_temporary: bool,
}

impl ClientNames {
    /// Names that were not looked up (`smtpd_peername_lookup = no`), or a
    /// client without an address (`localhost` for a local socket).
    pub fn unlooked(name: &str) -> ClientNames {
        ClientNames {
            name: name.to_string(),
            name_temporary: false,
            reverse: name.to_string(),
            reverse_temporary: false,
        }
    }
}

/// The client's names (see [`ClientNames`]); names found in the last
/// [`NAME_TTL`] are used again.
pub fn client_names(ip: IpAddr) -> ClientNames {
    let key = ip.to_string();
    if let Some(names) = RECENT_NAMES.get(&key) {
        return names;
    }
    let names = look_up_client_names(ip);
    if !names.name_temporary && !names.reverse_temporary {
        RECENT_NAMES.put(key, names.clone());
    }
    names
}

/// [`client_names`], asked of the resolver.
fn look_up_client_names(ip: IpAddr) -> ClientNames {
    let mut names = ClientNames::unlooked("unknown");
    let reverse = match reverse_name(ip) {
        Ok(Some(name)) => name,
        Ok(None) => return names,
        Err(()) => {
            names.name_temporary = true;
            names.reverse_temporary = true;
            return names;
        }
    };
    names.reverse = reverse.clone();
    match addresses(&reverse) {
        Ok(list) if list.iter().any(|a| a.to_canonical() == ip.to_canonical()) => {
            names.name = reverse
        }
        Err(Lookup::TempFail) => names.name_temporary = true,
        _ => {}
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_missing_names() {
        assert_eq!(host_exists("localhost"), Lookup::Found);
        assert_ne!(host_exists("no-such-host.invalid"), Lookup::Found);
        assert_ne!(host_exists("bad\0name"), Lookup::Found);
        // 127.0.0.1 is localhost in every /etc/hosts this runs with.
        let names = client_names("127.0.0.1".parse().expect("ip"));
        assert_eq!(names, ClientNames::unlooked("localhost"));
    }
}
