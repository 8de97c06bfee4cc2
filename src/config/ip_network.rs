//! IP networks in CIDR notation (RFC 4632 §3.1, RFC 4291 §2.3), as an operator lists the
//! proxies whose forwarding headers the provider believes (`trusted_proxies`).

use std::net::IpAddr;

/// A network: an address with its host bits cleared and a prefix length that fits it. A bare
/// address is the network of that one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    base: IpAddr,
    prefix: u8,
}

const NOT_AN_ADDRESS: &str = "not an IP address or a CIDR network such as 10.0.0.0/8";
const BAD_PREFIX: &str = "the prefix length does not fit the address (at most 32 or 128)";
const HOST_BITS: &str = "the network has host bits set; write the network address (10.0.0.0/8, not 10.1.2.3/8)";

impl IpNetwork {
    /// `10.0.0.0/8`, `2001:db8::/32`, or one host (`192.0.2.7`, `::1`). Host bits set under the
    /// prefix are refused rather than cleared: `10.1.2.3/8` is more likely a typo than a wish
    /// to trust all of `10/8`.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let base: IpAddr = address.parse().map_err(|_| NOT_AN_ADDRESS)?;
        let width = Self::width(base);
        let prefix = match prefix {
            None => width,
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 3 => {
                digits.parse::<u8>().map_err(|_| BAD_PREFIX)?
            }
            Some(_) => return Err(NOT_AN_ADDRESS),
        };
        if prefix > width {
            return Err(BAD_PREFIX);
        }
        let network = Self { base, prefix };
        if network.masked(base) != bits(base) {
            return Err(HOST_BITS);
        }
        Ok(network)
    }

    /// Whether `address` is in this network; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`,
    /// what a dual-stack socket reports for an IPv4 peer) counts as its IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        match (self.base, address) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => self.masked(address) == bits(self.base),
            _ => false,
        }
    }

    fn width(address: IpAddr) -> u8 {
        match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    fn masked(&self, address: IpAddr) -> u128 {
        let width = Self::width(address);
        let host_bits = u32::from(width - self.prefix.min(width));
        let mask = if host_bits >= 128 { 0 } else { u128::MAX << host_bits };
        bits(address) & mask
    }
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

impl std::str::FromStr for IpNetwork {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, &'static str> {
        Self::parse(text)
    }
}

/// The address with an IPv4-mapped IPv6 address turned into its IPv4 one.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_network_contains_exactly_the_addresses_under_its_prefix() {
        let ten = IpNetwork::parse("10.0.0.0/8").unwrap();
        assert!(ten.contains(ip("10.255.1.2")));
        assert!(!ten.contains(ip("11.0.0.1")));
        let v6 = IpNetwork::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")), "an IPv4 address is in no IPv6 network");
    }

    #[test]
    fn a_bare_address_is_one_host_and_zero_is_everything() {
        let one = IpNetwork::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")));
        assert!(!one.contains(ip("192.0.2.8")));
        let all = IpNetwork::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert!(IpNetwork::parse("::/0").unwrap().contains(ip("::1")));
    }

    #[test]
    fn an_ipv4_mapped_peer_counts_as_its_ipv4_address() {
        assert!(IpNetwork::parse("127.0.0.0/8").unwrap().contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn malformed_networks_are_refused_with_the_reason() {
        assert_eq!(IpNetwork::parse("10.0.0.0/33"), Err(BAD_PREFIX));
        assert_eq!(IpNetwork::parse("10.1.2.3/8"), Err(HOST_BITS));
        assert_eq!(IpNetwork::parse("example.com"), Err(NOT_AN_ADDRESS));
        assert_eq!(IpNetwork::parse("10.0.0.0/"), Err(NOT_AN_ADDRESS));
        assert_eq!(IpNetwork::parse("10.0.0.0/+8"), Err(NOT_AN_ADDRESS));
        assert_eq!(IpNetwork::parse("::/129"), Err(BAD_PREFIX));
    }
}
