//! Fetching a feed over HTTP, within limits: http and https only, a
//! timeout, a size cap, a few redirects, and (unless allowed) no private or
//! local network addresses, so an address an organisation gives cannot make
//! Signpost read a server on its own network and show what it said.
//!
//! Failures come back as sentences for the organisation: what went wrong
//! and what to do.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::FeedUrl;

/// How far a fetch may go.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// The whole fetch, from connecting to the last byte.
    pub timeout: Duration,
    /// The largest calendar read, in bytes.
    pub max_bytes: usize,
    /// How many redirects are followed.
    pub max_redirects: usize,
    /// Fetch from loopback, private and link-local addresses too. Off by
    /// default; tests (and a calendar on the operator's own network) turn
    /// it on.
    pub local_addresses: bool,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            timeout: Duration::from_secs(20),
            max_bytes: 2 * 1024 * 1024,
            max_redirects: 3,
            local_addresses: false,
        }
    }
}

/// An HTTP client kept within [`FetchLimits`].
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    limits: FetchLimits,
}

/// A host name that resolved only to addresses a feed may not use.
#[derive(Debug, thiserror::Error)]
#[error("the address leads only to private or local network addresses")]
struct LocalAddress;

/// Resolves host names, keeping only public addresses, so a name cannot
/// lead to the local network (checked at connection time, so a name that
/// changes its answer cannot get round it).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(LocalAddress) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Fetcher {
    pub(crate) fn new(limits: FetchLimits) -> Fetcher {
        let max_redirects = limits.max_redirects;
        let local_addresses = limits.local_addresses;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                attempt.error(TooManyRedirects)
            } else if !matches!(attempt.url().scheme(), "http" | "https") {
                attempt.error(NotWeb)
            } else if !local_addresses && literal_is_local(attempt.url()) {
                attempt.error(LocalAddress)
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            // A proxy would resolve names itself, past the public-only
            // resolver: fetch directly.
            .no_proxy()
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout)
            .redirect(policy)
            .user_agent(concat!(
                "Signpost/",
                env!("CARGO_PKG_VERSION"),
                " calendar feeds (+https://github.com/signpost-bot/signpost)"
            ));
        if !local_addresses {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        let client = builder
            .build()
            .expect("the HTTP client's settings are valid at start-up");
        Fetcher { client, limits }
    }

    /// Whether a feed may be at this address at all (its host, if written
    /// as a number, is not a local one).
    pub(crate) fn allows(&self, url: &FeedUrl) -> bool {
        self.limits.local_addresses || !literal_is_local(url.url())
    }

    /// The calendar at `url` as text, or what went wrong, in words for the
    /// organisation.
    pub(crate) async fn get(&self, url: &FeedUrl) -> Result<String, String> {
        if !self.allows(url) {
            return Err(LOCAL_ADDRESS.to_owned());
        }
        let max = self.limits.max_bytes;
        let too_large = || {
            format!(
                "the calendar is larger than {} MiB, more than Signpost reads: \
                 share a calendar of just your upcoming events",
                max / (1024 * 1024)
            )
        };
        let mut response = self
            .client
            .get(url.url().clone())
            .header(reqwest::header::ACCEPT, "text/calendar, */*;q=0.5")
            .send()
            .await
            .map_err(|err| self.describe(&err))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "the calendar's server answered \"{status}\" instead of the calendar: \
                 check the address opens the calendar in a browser, and that the calendar \
                 is shared publicly"
            ));
        }
        if response
            .content_length()
            .is_some_and(|length| length > max as u64)
        {
            return Err(too_large());
        }
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| self.describe(&err))? {
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|err| {
            format!(
                "the calendar is not UTF-8 text (byte {} is not): is the address that of \
                 the calendar file (.ics)?",
                err.utf8_error().valid_up_to()
            )
        })
    }

    /// A failed request in words for the organisation.
    fn describe(&self, err: &reqwest::Error) -> String {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(cause) = source {
            if cause.is::<LocalAddress>() {
                return LOCAL_ADDRESS.to_owned();
            }
            if cause.is::<TooManyRedirects>() {
                return format!(
                    "the address sends Signpost on more than {} times: give the calendar's \
                     own address, as it shows in the browser once the calendar opens",
                    self.limits.max_redirects
                );
            }
            if cause.is::<NotWeb>() {
                return "the address sends Signpost on to something that is not a web \
                        address: give the calendar's own https:// address"
                    .to_owned();
            }
            source = cause.source();
        }
        if err.is_timeout() {
            return format!(
                "the calendar's server did not send the calendar within {} seconds: \
                 check the address opens in a browser",
                self.limits.timeout.as_secs()
            );
        }
        if err.is_connect() {
            return "Signpost could not connect to the calendar's server: check the address \
                    is right and the site is up"
                .to_owned();
        }
        let mut innermost: &dyn std::error::Error = err;
        while let Some(cause) = innermost.source() {
            innermost = cause;
        }
        format!(
            "the calendar could not be fetched ({innermost}): check the address opens in a \
             browser"
        )
    }
}

const LOCAL_ADDRESS: &str = "the address leads to a private or local network, which Signpost \
     does not fetch from: give the calendar's public address";

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

#[derive(Debug, thiserror::Error)]
#[error("a redirect to something that is not a web address")]
struct NotWeb;

/// The URL's host is written as a number, and that number is not a public
/// address.
fn literal_is_local(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(v4)) => !is_public(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => !is_public(IpAddr::V6(v6)),
        _ => false,
    }
}

/// Whether an address is on the public internet: not loopback, private,
/// shared, link-local, unspecified, multicast, broadcast or documentation.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [first, second, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || first == 0
                || first >= 240
                || (first == 100 && (second & 0xc0) == 64)
                // IETF protocol assignments and benchmarking.
                || (first == 192 && second == 0 && v4.octets()[2] == 0)
                || (first == 198 && (second & 0xfe) == 18))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let first = segments[0];
            // Addresses that carry an IPv4 address inside: judged by it.
            let embedded = |high: u16, low: u16| {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d))
            };
            // NAT64 (64:ff9b::/96) and IPv4-compatible (::a.b.c.d).
            if (segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]) || segments[..6] == [0; 6] {
                return is_public(embedded(segments[6], segments[7]));
            }
            // 6to4 (2002::/16) carries it in the next 32 bits.
            if first == 0x2002 {
                return is_public(embedded(segments[1], segments[2]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // Site-local (deprecated) and documentation.
                || (first & 0xffc0) == 0xfec0
                || (first == 0x2001 && segments[1] == 0x0db8))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "2001:db8::1",
            "fec0::1",
            "198.18.0.1",
            "192.0.0.8",
        ] {
            assert!(!is_public(local.parse().unwrap()), "{local}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
