//! Who a request comes from: the peer address, or, when the peer is a proxy the operator
//! trusts (`trusted_proxies`), the client address that proxy forwarded. Rate limits, sign-in
//! limits, the audit trail and the access log all use this one answer (docs/security.md
//! "Client addresses").

use std::net::IpAddr;

use actix_web::http::header::{HeaderMap, HeaderName};

use crate::config::{canonical_ip, ForwardedHeader, IpNetwork, Settings};

/// The client address of the request being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Which peers' forwarding headers are believed, and which header they write.
#[derive(Debug, Clone)]
pub struct ForwardingPolicy {
    trusted: Vec<IpNetwork>,
    header: ForwardedHeader,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// More hops than any real chain of proxies; a longer header is read from its right end only.
const MAX_HOPS: usize = 32;

impl ForwardingPolicy {
    pub fn new(settings: &Settings) -> Self {
        Self { trusted: settings.trusted_proxies.clone(), header: settings.forwarded_header }
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted.iter().any(|network| network.contains(address))
    }

    /// The client address: walking the forwarded chain from the right (the hop nearest to
    /// us), each address written by a trusted proxy is believed; the first one that is not a
    /// trusted proxy is the client. Entries further left were written by the client itself or
    /// by proxies nobody vouches for, so they are never read. An entry that is no address
    /// (`unknown`, an obfuscated name) stops the walk at the proxy that wrote it.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical_ip(peer);
        if self.trusted.is_empty() || !self.is_trusted(peer) {
            return peer;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => hops(headers, &X_FORWARDED_FOR, Some),
            ForwardedHeader::Forwarded => hops(headers, &FORWARDED, forwarded_for),
        };
        let mut nearest = peer;
        for hop in hops.iter().rev().take(MAX_HOPS) {
            match hop {
                Some(address) if self.is_trusted(*address) => nearest = *address,
                Some(address) => return *address,
                None => return nearest,
            }
        }
        nearest
    }
}

/// The entries of every `name` header in order, each parsed to an address (or `None`).
fn hops<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    node: impl Fn(&'h str) -> Option<&'h str>,
) -> Vec<Option<IpAddr>> {
    headers
        .get_all(name)
        .flat_map(|value| value.to_str().unwrap_or("garbage").split(','))
        .map(|entry| node(entry.trim()).and_then(parse_node).map(canonical_ip))
        .collect()
}

/// The `for=` parameter of one RFC 7239 forwarded-element (`for=192.0.2.60;proto=http`).
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"'))
    })
}

/// An address as proxies write it: `192.0.2.60`, `192.0.2.60:4711`, `2001:db8::1`, or
/// `[2001:db8::1]:4711` (RFC 7239 §6).
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(address) = node.parse() {
        return Some(address);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = node.rsplit_once(':')?;
    port.bytes().all(|b| b.is_ascii_digit()).then(|| host.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn policy(trusted: &[&str], header: ForwardedHeader) -> ForwardingPolicy {
        ForwardingPolicy { trusted: trusted.iter().map(|t| IpNetwork::parse(t).unwrap()).collect(), header }
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards() {
        let none = policy(&[], ForwardedHeader::XForwardedFor);
        assert_eq!(none.client_address(ip("10.0.0.5"), &headers("x-forwarded-for", &["203.0.113.9"])), ip("10.0.0.5"));
        let some = policy(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(
            some.client_address(ip("198.51.100.1"), &headers("x-forwarded-for", &["203.0.113.9"])),
            ip("198.51.100.1"),
            "an untrusted peer's header is not read"
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_and_what_it_claims_is_ignored() {
        let policy = policy(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        // The client forged "1.2.3.4"; the proxy appended the real peer it saw.
        let forged = headers("x-forwarded-for", &["1.2.3.4, 203.0.113.9"]);
        assert_eq!(policy.client_address(ip("10.0.0.5"), &forged), ip("203.0.113.9"));
        // Two trusted proxies in a row, the list split over two header lines.
        let chained = headers("x-forwarded-for", &["203.0.113.9", "10.1.1.1"]);
        assert_eq!(policy.client_address(ip("10.0.0.5"), &chained), ip("203.0.113.9"));
        // Every hop trusted: the leftmost is the nearest thing to a client there is.
        let internal = headers("x-forwarded-for", &["10.9.9.9, 10.1.1.1"]);
        assert_eq!(policy.client_address(ip("10.0.0.5"), &internal), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(policy.client_address(ip("10.0.0.5"), &HeaderMap::new()), ip("10.0.0.5"));
    }

    #[test]
    fn an_entry_that_is_no_address_stops_at_the_proxy_that_wrote_it() {
        let policy = policy(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let garbage = headers("x-forwarded-for", &["203.0.113.9, not-an-ip, 10.1.1.1"]);
        assert_eq!(policy.client_address(ip("10.0.0.5"), &garbage), ip("10.1.1.1"));
    }

    #[test]
    fn forwarded_is_read_only_when_it_is_the_configured_header() {
        let by_forwarded = policy(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let mut both = headers("forwarded", &["for=192.0.2.60;proto=https, for=\"[2001:db8::1]:4711\""]);
        both.append(X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.77"));
        assert_eq!(by_forwarded.client_address(ip("10.0.0.5"), &both), ip("2001:db8::1"));
        let by_xff = policy(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(by_xff.client_address(ip("10.0.0.5"), &both), ip("198.51.100.77"));
    }

    #[test]
    fn nodes_with_ports_and_mapped_addresses_are_read_as_their_address() {
        assert_eq!(parse_node("192.0.2.60:4711"), Some(ip("192.0.2.60")));
        assert_eq!(parse_node("[2001:db8::1]:4711"), Some(ip("2001:db8::1")));
        assert_eq!(parse_node("_hidden"), None);
        let policy = policy(&["127.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let mapped = headers("x-forwarded-for", &["::ffff:203.0.113.9"]);
        assert_eq!(policy.client_address(ip("::ffff:127.0.0.1"), &mapped), ip("203.0.113.9"));
    }
}
