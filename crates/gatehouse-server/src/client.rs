//! Who is on the other end of a request: the peer address, or, behind a proxy the operator trusts, the
//! address and scheme that proxy reports. Headers from anyone else are the client's own words, and a client
//! could name any address (to dodge the sign-in throttle, or to frame another) or claim TLS it does not have.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::state::App;

/// One trusted proxy: an address, or a network in CIDR notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse(text: &str) -> Result<IpNet, String> {
        let t = text.trim();
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("{t:?} is not an IP address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{t:?}: bad prefix length"))?,
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32, self.prefix) == masked(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix) == masked(u128::from(ip), 128, self.prefix)
            }
            (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

/// A comma-separated list of trusted proxies, as the setting takes it; empty trusts nobody.
pub fn parse_list(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(IpNet::parse).collect()
}

fn masked(v: u128, bits: u8, prefix: u8) -> u128 {
    match u32::from(bits).checked_sub(u32::from(prefix)) {
        Some(shift) if shift < 128 => (v >> shift).checked_shl(shift).unwrap_or(0),
        Some(_) | None => 0,
    }
}

/// IPv4-mapped IPv6 addresses (a dual-stack listener's view of IPv4 peers) as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

fn trusted(app: &App, ip: IpAddr) -> bool {
    app.config.trusted_proxies.iter().any(|n| n.contains(ip))
}

/// The peer's address, as the accept loop recorded it.
pub fn peer(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| canonical(c.0.ip()))
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy (proxies append, so the right end is the most
/// trustworthy; anything left of an untrusted hop is that hop's say-so).
pub fn client_ip(app: &App, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted(app, peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        nearest = canonical(ip);
        if !trusted(app, nearest) {
            break;
        }
    }
    Some(nearest)
}

/// Whether the request reached a trusted proxy over TLS (`X-Forwarded-Proto: https` from such a proxy).
pub fn forwarded_https(app: &App, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
    peer.is_some_and(|p| trusted(app, p))
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// The calling client's address, for handlers (the sign-in throttle).
pub struct ClientIp(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<App> for ClientIp {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        Ok(ClientIp(client_ip(app, peer(parts), &parts.headers)))
    }
}

/// Whether the request came over TLS by way of a trusted proxy, for handlers (the cookie's `Secure`).
pub struct ForwardedHttps(pub bool);

impl axum::extract::FromRequestParts<App> for ForwardedHttps {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        Ok(ForwardedHttps(forwarded_https(app, peer(parts), &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let n = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()), "IPv4-mapped");
        let one = IpNet::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()) && !one.contains("127.0.0.2".parse().unwrap()));
        let all = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()) && !all.contains("::1".parse().unwrap()));
        let v6 = IpNet::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()) && !v6.contains("fe80::1".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x"] {
            assert!(IpNet::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_list(" 10.0.0.1, ::1 ").unwrap().len(), 2);
        assert!(parse_list("").unwrap().is_empty());
    }
}
